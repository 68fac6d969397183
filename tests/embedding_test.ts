import { embeddingCheck } from "../kernels/embedding/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(embeddingCheck);
