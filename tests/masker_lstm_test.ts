import { maskerLstmCheck } from "../kernels/masker_lstm/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(maskerLstmCheck);
