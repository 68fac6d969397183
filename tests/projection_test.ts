import { projectionCheck } from "../kernels/projection/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(projectionCheck);
