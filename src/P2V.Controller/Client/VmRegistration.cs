using System.Text.Json;
using P2V.Controller.Api;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Controller.Client;

/// <summary>What registering a VM with the controller made: its device and the deploy job of each disk.</summary>
public sealed record RegisteredVm(Device Device, IReadOnlyList<Job> Jobs);

/// <summary>
/// The source document's CreateVM.cmd step with ADS: the new VM becomes a controlled device (by the MAC it
/// network-boots with, its first NIC, which carries the source's MAC), with the source's inventory and the default
/// job template "none", and gets a deploy job per disk, through the admin API (docs/controller.md).
/// </summary>
public static class VmRegistration
{
    /// <summary>The store image a plan's disk is captured into: the same stem as the image file of a capture without a controller.</summary>
    public static string ImageName(MigrationPlan plan, PlannedDisk disk) => $"{plan.Name}_{disk.Source}";

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
    /// Registers the VM; running it again (createvm --force) updates the device and reuses deploy jobs still queued for
    /// the same images instead of queueing them twice. The first disk's job also runs the fix-ups (Windows lives there).
    /// </summary>
    public static async Task<RegisteredVm> RegisterAsync(ControllerClient controller, MigrationPlan plan, string? inventoryXml, CancellationToken cancel = default)
    {
        string mac = BootMac(plan);
        if (plan.Disks.Count == 0) throw new ArgumentException($"plan {plan.Name} has no disk to deploy");
        var device = await controller.AddDeviceAsync(new DeviceRequest(mac, plan.Name, inventoryXml, Controlled: true,
            DefaultTemplate: JobTemplate.None), cancel);
        var queued = (await controller.ListJobsAsync(mac, JobState.Queued, cancel: cancel)).Where(j => j.Kind == JobKind.Deploy).ToList();
        var jobs = new List<Job>();
        for (int i = 0; i < plan.Disks.Count; i++)
        {
            string image = ImageName(plan, plan.Disks[i]);
            IReadOnlyList<string> steps = i == 0 ? ["deploy", "fixup"] : ["deploy"];
            if (queued.FirstOrDefault(j => j.Image == image && j.Steps.SequenceEqual(steps)) is { } existing)
            {
                jobs.Add(existing);
                continue;
            }
            var created = await controller.CreateJobAsync(new JobRequest(mac, JobKind.Deploy, image, steps, i == 0 ? Fixup(plan) : null), cancel);
            jobs.Add(created.Job);
        }
        return new RegisteredVm(device, jobs);
    }

    /// <summary>The fix-up settings the agent's fixup step reads (docs/agent-protocol.md): the hypervisor and the vCPU count.</summary>
    public static JsonElement Fixup(MigrationPlan plan)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("target", TargetHypervisor.For(plan.Target).Name);
            w.WriteNumber("vcpus", plan.Vcpus);
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.ToArray());
        return doc.RootElement.Clone();
    }
}
