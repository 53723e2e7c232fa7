// One vocabulary: the weight encodings and variation kinds are the hardware spec's (docs/hardware.md), read as they are.
global using VariationKind = PimQuant.Hardware.Spec.VariationKind;
global using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;
