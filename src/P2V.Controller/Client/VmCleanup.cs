using P2V.Controller.Api;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Imaging;
using P2V.Migration.Cleanup;
using P2V.Migration.Planning;
using P2V.Store;

namespace P2V.Controller.Client;

/// <summary>An image the clean-up removed, with the bytes only it held (freed by the garbage collection).</summary>
public sealed record RemovedImage(string Name, long DiskBytes, long UniqueBytes);

/// <summary>What `p2v cleanup` did; a second run reports nothing left to do.</summary>
public sealed record CleanupResult(string Mac, string? Name, bool Released, IReadOnlyList<long> CancelledJobs, IReadOnlyList<string> Detached,
    IReadOnlyList<string> AlreadyDetached, IReadOnlyList<RemovedImage> RemovedImages, GcReport? Garbage);

/// <summary>
/// The source document's post-migration clean-up (after the ResetVM job): the VM's device is released with its
/// default job "none", its queued jobs are cancelled, the boot floppy leaves its configuration, and optionally the
/// migration's images leave the store, whose garbage collection frees their unique chunks. Everything is checked
/// (the configurations parse, the device is known and runs no job, the store answers) before the first change.
/// </summary>
public sealed class VmCleanup
{
    private readonly ControllerClient _controller;
    private readonly IImageStore? _store;
    private readonly string _mac;
    private readonly List<(string Path, byte[]? Detached)> _configs;
    private Device? _device;
    private List<Job> _jobs = [];
    private List<ImageSummary> _images = [];

    private VmCleanup(ControllerClient controller, IImageStore? store, string mac, List<(string, byte[]?)> configs)
    {
        _controller = controller;
        _store = store;
        _mac = mac;
        _configs = configs;
    }

    /// <summary>
    /// The clean-up of a migration folder's VM (plan.json: its boot MAC and configurations), or of a device named by its
    /// MAC or name alone (no configuration to edit). <paramref name="store"/>: where its images are, for --drop-images.
    /// </summary>
    public static async Task<VmCleanup> PrepareAsync(ControllerClient controller, IImageStore? store, string vmOrFolder, CancellationToken cancel = default)
    {
        string? planFile = Directory.Exists(vmOrFolder) ? Path.Combine(vmOrFolder, "plan.json")
            : File.Exists(vmOrFolder) ? vmOrFolder : null;
        var configs = new List<(string, byte[]?)>();
        string mac;
        if (planFile != null)
        {
            if (!File.Exists(planFile)) throw new FileNotFoundException($"{vmOrFolder}: no plan.json (not a migration folder of p2v plan)");
            var plan = MigrationPlan.Load(planFile);
            mac = VmRegistration.BootMac(plan);
            foreach (var path in ConfigurationFiles(plan, Path.GetDirectoryName(Path.GetFullPath(planFile))!))
                configs.Add((path, BootFloppyDetacher.Detach(path, await File.ReadAllBytesAsync(path, cancel))));
        }
        else mac = await FindDeviceAsync(controller, vmOrFolder, cancel);

        var cleanup = new VmCleanup(controller, store, mac, configs);
        try { cleanup._device = await controller.GetDeviceAsync(mac, cancel); }
        catch (ControllerException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
        {
            throw new ControllerException(e.Status, $"device {mac} is not known to the controller (p2v createvm --controller registers it)");
        }
        cleanup._jobs = await controller.ListJobsAsync(mac, cancel: cancel);
        if (cleanup._jobs.FirstOrDefault(j => j.State is JobState.Claimed or JobState.Running) is { } busy)
            throw new InvalidOperationException($"device {mac}: job {busy.Id} ({JobWords.Of(busy.Kind)}) is {JobWords.Of(busy.State)}; wait for it (p2v job wait {busy.Id}) before the clean-up");
        if (store != null) cleanup._images = [.. await store.ListAsync(cancel)];
        return cleanup;
    }

    /// <summary>The migration's images: every image its capture and deploy jobs named, with their further disks.</summary>
    public IReadOnlyList<string> Images()
    {
        var named = _jobs.Where(j => j.Kind is JobKind.Capture or JobKind.Deploy && j.Image != null).Select(j => j.Image!).Distinct().ToList();
        return [.. _images.Select(i => i.Name).Where(n => named.Any(image => DiskImageNames.BelongsTo(n, image))).Order(StringComparer.Ordinal)];
    }

    public async Task<CleanupResult> RunAsync(bool dropImages, CancellationToken cancel = default)
    {
        var cancelled = new List<long>();
        foreach (var queued in _jobs.Where(j => j.State == JobState.Queued))
        {
            await _controller.CancelJobAsync(queued.Id, cancel);
            cancelled.Add(queued.Id);
        }
        bool released = _device!.Controlled;
        if (released) await _controller.ReleaseAsync(_mac, cancel);
        await _controller.ChangeDeviceAsync(_mac, new DeviceChange(BootAction: DeviceBootAction.None, DefaultTemplate: JobTemplate.None), cancel);

        foreach (var (path, detached) in _configs)
            if (detached != null) AtomicFile.WriteAllBytes(path, detached);

        var removed = new List<RemovedImage>();
        GcReport? garbage = null;
        if (dropImages && _store != null)
        {
            foreach (var name in Images())
            {
                var summary = _images.First(i => i.Name == name);
                try { await _store.DeleteAsync(name, cancel); }
                catch (ImageNotFoundException) { continue; } // removed meanwhile: the same end state
                removed.Add(new RemovedImage(name, summary.DiskBytes, summary.UniqueBytes));
            }
            garbage = await _store.CollectGarbageAsync(cancel);
        }
        return new CleanupResult(_mac, _device.Name, released, cancelled,
            [.. _configs.Where(c => c.Detached != null).Select(c => c.Path)], [.. _configs.Where(c => c.Detached == null).Select(c => c.Path)],
            removed, garbage);
    }

    /// <summary>The VM configurations of a migration folder: the copy p2v plan wrote into it and the one createvm wrote, where they exist.</summary>
    public static IReadOnlyList<string> ConfigurationFiles(MigrationPlan plan, string folder)
    {
        var files = new List<string>();
        foreach (var candidate in new[] { Path.Combine(folder, HostPath.FileName(plan.ConfigFile)), plan.ConfigFile })
        {
            var full = Path.GetFullPath(candidate, folder);
            if (File.Exists(full) && !files.Contains(full)) files.Add(full);
        }
        return files;
    }

    private static async Task<string> FindDeviceAsync(ControllerClient controller, string vm, CancellationToken cancel)
    {
        try { return MacAddress.Normalize(vm); }
        catch (ArgumentException) { }
        var named = (await controller.ListDevicesAsync(cancel)).Where(d => string.Equals(d.Name, vm, StringComparison.OrdinalIgnoreCase)).ToList();
        return named.Count switch
        {
            1 => named[0].Mac,
            0 => throw new ArgumentException($"'{vm}' is neither a migration folder, a plan.json, a MAC address nor the name of a device of the controller"),
            _ => throw new ArgumentException($"{named.Count} devices are named '{vm}' ({string.Join(", ", named.Select(d => d.Mac))}); give the MAC"),
        };
    }
}
