import { adamCheck } from "../kernels/adam/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(adamCheck);
