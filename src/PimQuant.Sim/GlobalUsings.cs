// One vocabulary: the weight encodings, variation kinds and ADC step modes are the hardware spec's (docs/hardware.md), read as they are.
global using VariationKind = PimQuant.Hardware.Spec.VariationKind;
global using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;
global using AdcStepMode = PimQuant.Hardware.Spec.AdcStepMode;
