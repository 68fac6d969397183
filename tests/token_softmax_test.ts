import { tokenSoftmaxCheck } from "../kernels/token_softmax/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(tokenSoftmaxCheck);
