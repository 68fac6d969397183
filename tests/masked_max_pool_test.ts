import { maskedMaxPoolCheck } from "../kernels/masked_max_pool/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(maskedMaxPoolCheck);
