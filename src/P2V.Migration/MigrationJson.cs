using P2V.Imaging.VirtualDisks;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2V.Migration.Creation;
using P2V.Migration.Planning;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration;

/// <summary>
/// The assembly's one serializer, generated at build time (trim- and NativeAOT-safe): plan.json and the target
/// device record. camelCase names, enums as kebab-case names ("hyper-v"), indented.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(KebabCaseEnum<TargetKind>), typeof(KebabCaseEnum<HalAction>), typeof(KebabCaseEnum<VirtualDiskFormat>),
        typeof(KebabCaseEnum<VmDiskBus>), typeof(KebabCaseEnum<Validation.Severity>)])]
[JsonSerializable(typeof(MigrationPlan))]
[JsonSerializable(typeof(TargetDeviceRecord))]
internal sealed partial class MigrationJson : JsonSerializerContext;

internal sealed class KebabCaseEnum<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.KebabCaseLower) where TEnum : struct, Enum;
