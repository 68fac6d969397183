import { maskRegularisersCheck } from "../kernels/mask_regularisers/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(maskRegularisersCheck);
