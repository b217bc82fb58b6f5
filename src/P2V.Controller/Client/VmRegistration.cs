using System.Text.Json;
using P2V.Controller.Api;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Controller.Client;

/// <summary>What registering a VM with the controller made: its device and its deploy job.</summary>
public sealed record RegisteredVm(Device Device, Job Job);

/// <summary>
/// The source document's CreateVM.cmd step with ADS: the new VM becomes a controlled device (by the MAC it
/// network-boots with, its first NIC, which carries the source's MAC), with the source's inventory and the default
/// job template "none", and gets one deploy job through the admin API (docs/controller.md): the agent writes the
/// image onto the VM's first disk, IMAGE.disk2 onto the second … (docs/agent-protocol.md, "Images of a job"), then
/// fixes Windows up for the plan's hypervisor and vCPUs.
/// </summary>
public static class VmRegistration
{
    /// <summary>The MAC the VM network-boots with, or a one-line reason why it cannot.</summary>
    public static string BootMac(MigrationPlan plan) => plan.Nics.Count > 0 ? MacAddress.Normalize(plan.Nics[0].Mac)
        : throw new ArgumentException($"plan {plan.Name} has no network adapter: the VM cannot network-boot for its deploy");

    /// <summary>Before any file of the VM is made: the plan can be registered, the controller answers and takes the token.</summary>
    public static async Task CheckAsync(ControllerClient controller, MigrationPlan plan, CancellationToken cancel = default)
    {
        string mac = BootMac(plan);
        if (plan.Disks.Count == 0) throw new ArgumentException($"plan {plan.Name} has no disk to deploy");
        await controller.ListJobsAsync(mac, JobState.Queued, cancel: cancel);
    }

    /// <summary>
    /// Registers the VM to be deployed from <paramref name="image"/> (the capture job's image in the controller's store);
    /// running it again (createvm --force) updates the device and reuses a deploy job still queued for the same image
    /// instead of queueing a second one. <paramref name="tars"/>: the URLs of the tars the fix-up fetches.
    /// </summary>
    public static async Task<RegisteredVm> RegisterAsync(ControllerClient controller, MigrationPlan plan, string? inventoryXml, string image, FixupTars tars,
        CancellationToken cancel = default)
    {
        string mac = BootMac(plan);
        if (plan.Disks.Count == 0) throw new ArgumentException($"plan {plan.Name} has no disk to deploy");
        var device = await controller.AddDeviceAsync(new DeviceRequest(mac, plan.Name, inventoryXml, Controlled: true,
            DefaultTemplate: JobTemplate.None), cancel);
        // A queued job is reused only when it would do the same: same image, same fix-up (a re-plan may change the target or vCPUs).
        var fixup = Fixup(plan, tars);
        var deploys = (await controller.ListJobsAsync(mac, JobState.Queued, cancel: cancel)).Where(j => j.Kind == JobKind.Deploy).ToList();
        var queued = deploys.FirstOrDefault(j => j.Image == image && j.Fixup is { } f && f.GetRawText() == fixup.GetRawText());
        // Any other queued deploy of this VM is stale (an earlier plan): the VM must not boot into it.
        foreach (var stale in deploys.Where(j => j != queued)) await controller.CancelJobAsync(stale.Id, cancel);
        return new RegisteredVm(device, queued ?? (await controller.CreateJobAsync(new JobRequest(mac, JobKind.Deploy, image, null, fixup), cancel)).Job);
    }

    /// <summary>
    /// The fix-up settings the agent's fixup step reads (docs/agent-protocol.md): the hypervisor, the vCPU count, and the
    /// URLs of the patch library's, the drivers' and the first-boot scripts' tars.
    /// </summary>
    public static JsonElement Fixup(MigrationPlan plan, FixupTars tars)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("target", TargetHypervisor.For(plan.Target).Name);
            w.WriteNumber("vcpus", plan.Vcpus);
            if (tars.Patches is not null) w.WriteString("patches", tars.Patches);
            if (tars.Drivers is not null) w.WriteString("drivers", tars.Drivers);
            if (tars.FirstBoot is not null) w.WriteString("firstboot", tars.FirstBoot);
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.ToArray());
        return doc.RootElement.Clone();
    }
}

/// <summary>Where the deploy agent fetches the fix-up's tars (http URLs): the patch library, the plan's drivers folder, its first-boot scripts.</summary>
public sealed record FixupTars(string? Patches = null, string? Drivers = null, string? FirstBoot = null);
