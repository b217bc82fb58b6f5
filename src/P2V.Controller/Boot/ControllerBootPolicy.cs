using System.Net.NetworkInformation;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Netboot;
using P2V.Netboot.Boot;

namespace P2V.Controller.Boot;

/// <summary>
/// What a network-booting machine boots, from the database: an unknown MAC is recorded (first PXE contact) and boots
/// its disk, as does every device not under control; a controlled device with a queued job boots that job's
/// environment with the job's token on its kernel command line; a queued reset job is done by booting the disk.
/// Any database failure boots the disk too: a machine is never kept from its own system by the controller.
/// </summary>
public sealed class ControllerBootPolicy(DeviceRepository devices, JobRepository jobs, ControllerOptions options, NetbootLog? log = null) : IBootPolicy
{
    public BootDecision Decide(PhysicalAddress mac)
    {
        try
        {
            // IBootPolicy is synchronous (DHCP and HTTP both ask it); the queries are short.
            return DecideAsync(MacAddress.Format(mac), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            log?.Write("controller", MacAddress.Format(mac), $"boot decision failed, booting from local disk: {e.Message}");
            return new BootDecision(BootAction.LocalDisk);
        }
    }

    public async Task<BootDecision> DecideAsync(string mac, CancellationToken cancel)
    {
        var device = await devices.SeenBootingAsync(mac, cancel);
        if (!device.Controlled || device.BootAction == DeviceBootAction.LocalDisk) return new(BootAction.LocalDisk);
        var next = await jobs.NextQueuedAsync(device.Mac, 0, cancel);
        if (next == null && device.DefaultTemplate != JobTemplate.None && !await jobs.HasActiveAsync(device.Mac, cancel))
            next = await FromTemplateAsync(device, cancel);
        if (next is not var (job, token)) return new(BootAction.LocalDisk);
        if (job.Kind == JobKind.Reset)
        {
            await jobs.CompleteQueuedResetAsync(job.Id, cancel);
            return new(BootAction.LocalDisk);
        }
        var action = job.Kind switch
        {
            JobKind.Capture => BootAction.Capture,
            JobKind.Deploy => BootAction.Deploy,
            // Custom steps run in the environment the operator chose for the device; capture's by default.
            _ => device.BootAction == DeviceBootAction.Deploy ? BootAction.Deploy : BootAction.Capture,
        };
        return new(action, $"p2v.controller={options.PublicUrl} p2v.token={token} p2v.job={job.Id}");
    }

    /// <summary>The device's default job template: capture into a new image named after it, deploy its last deployed image again, or reset.</summary>
    private async Task<(Job, string)?> FromTemplateAsync(Device device, CancellationToken cancel)
    {
        string? image = null;
        System.Text.Json.JsonElement? fixup = null;
        switch (device.DefaultTemplate)
        {
            case JobTemplate.Capture:
                image = $"{device.Name ?? device.Mac.Replace(":", "")}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
                break;
            case JobTemplate.Deploy:
                var last = (await jobs.ListAsync(device.Mac, cancel: cancel)).FirstOrDefault(j => j.Kind == JobKind.Deploy);
                if (last == null) return null;
                (image, fixup) = (last.Image, last.Fixup);
                break;
        }
        var kind = device.DefaultTemplate switch { JobTemplate.Capture => JobKind.Capture, JobTemplate.Deploy => JobKind.Deploy, _ => JobKind.Reset };
        var (job, token) = await jobs.CreateAsync(device.Mac, kind, null, image, fixup, cancel);
        log?.Write("controller", device.Mac, $"job {job.Id} ({JobWords.Of(kind)}) from the device's default template");
        return (job, token);
    }
}
