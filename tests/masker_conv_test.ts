import { convMaskerCheck } from "../kernels/masker_conv/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(convMaskerCheck);
