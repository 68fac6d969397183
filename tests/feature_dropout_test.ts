import { featureDropoutCheck } from "../kernels/feature_dropout/check.ts";
import { registerKernelTests } from "./kernel_tests.ts";

registerKernelTests(featureDropoutCheck);
