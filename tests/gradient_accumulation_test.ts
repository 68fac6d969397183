import { gradientAccumulationCheck } from "../kernels/gradient_accumulation/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(gradientAccumulationCheck);
