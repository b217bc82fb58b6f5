using System.Net.NetworkInformation;
using System.Text.Json.Serialization;
using P2V.Netboot.Boot;

namespace P2V.Controller.Devices;

/// <summary>
/// What a controlled device boots when it network-boots. <see cref="None"/> follows its job (a capture job boots the
/// capture image, a deploy job the deploy image, no job its own disk); the others are the operator's override.
/// </summary>
public enum DeviceBootAction
{
    [JsonStringEnumMemberName("none")] None,
    [JsonStringEnumMemberName("capture")] Capture,
    [JsonStringEnumMemberName("deploy")] Deploy,
    [JsonStringEnumMemberName("local")] LocalDisk,
}

/// <summary>
/// A machine the controller knows, keyed by the MAC address it network-boots with: a source server, or a target
/// VM. Only a controlled device is ever booted into a P2V environment (the source document's "take control").
/// </summary>
public sealed record Device(
    string Mac,
    string? Name,
    bool Controlled,
    DeviceBootAction BootAction,
    JobTemplate DefaultTemplate,
    bool HasInventory,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? LastBootAt);

/// <summary>The job a controlled device gets when it boots with none queued; None (the default) creates nothing.</summary>
public enum JobTemplate
{
    [JsonStringEnumMemberName("none")] None,
    [JsonStringEnumMemberName("capture")] Capture,
    [JsonStringEnumMemberName("deploy")] Deploy,
    [JsonStringEnumMemberName("reset")] Reset,
}

/// <summary>MAC addresses as the controller stores and prints them: aa:bb:cc:dd:ee:ff.</summary>
public static class MacAddress
{
    public static string Normalize(string text) =>
        BootConfigFile.TryParseMac(text.Trim(), out var mac) ? IpxeScript.FormatMac(mac)
            : throw new ArgumentException($"'{text}' is not a MAC address (aa:bb:cc:dd:ee:ff)");

    public static string Format(PhysicalAddress mac) => IpxeScript.FormatMac(mac);
}

/// <summary>The words the API, the database and the command line use for the enums.</summary>
public static class Words
{
    public static string Of(DeviceBootAction a) => a switch
    {
        DeviceBootAction.Capture => "capture",
        DeviceBootAction.Deploy => "deploy",
        DeviceBootAction.LocalDisk => "local",
        _ => "none",
    };

    public static DeviceBootAction ParseBootAction(string word) => word.ToLowerInvariant() switch
    {
        "none" => DeviceBootAction.None,
        "capture" => DeviceBootAction.Capture,
        "deploy" => DeviceBootAction.Deploy,
        "local" or "localdisk" or "local-disk" => DeviceBootAction.LocalDisk,
        _ => throw new ArgumentException($"boot action must be none, capture, deploy or local, not '{word}'"),
    };

    public static string Of(JobTemplate t) => t.ToString().ToLowerInvariant();

    public static JobTemplate ParseTemplate(string word) => word.ToLowerInvariant() switch
    {
        "none" => JobTemplate.None,
        "capture" => JobTemplate.Capture,
        "deploy" => JobTemplate.Deploy,
        "reset" => JobTemplate.Reset,
        _ => throw new ArgumentException($"job template must be none, capture, deploy or reset, not '{word}'"),
    };
}
