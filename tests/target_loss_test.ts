import { targetLossCheck } from "../kernels/target_loss/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(targetLossCheck);
