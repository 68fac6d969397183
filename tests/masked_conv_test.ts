import { maskedConvCheck } from "../kernels/masked_conv/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(maskedConvCheck);
