using System.Diagnostics;
using System.Text;
using System.Text.Json;
using P2V.Imaging;
using P2V.Imaging.VirtualDisks;
using P2V.Migration.Planning;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration.Creation;

public sealed record CreateVmOptions
{
    /// <summary>A boot floppy image to copy; when null, tools/make-floppy builds one.</summary>
    public string? FloppySource { get; init; }
    /// <summary>Write zeros over fixed disks, as Virtual Server did; by default their space is left sparse.</summary>
    public bool ZeroFill { get; init; }
    /// <summary>Replace disk files that exist already (their contents are lost).</summary>
    public bool Overwrite { get; init; }
    public string? MakeFloppyScript { get; init; }
}

/// <param name="Networks">The network definitions written; one that existed already is left as it is (it may describe a live network).</param>
public sealed record CreatedVm(IReadOnlyList<string> Disks, string Floppy, string Config, string DeviceFile, IReadOnlyList<string> Networks);

/// <summary>
/// Step 5 (the seed's CreateVM.cmd): the VM's disk files sized like the source disks, the deploy boot floppy,
/// the configuration, the definitions of its virtual networks not there yet, and the target device's record (a file). Registering it with a controller is the controller
/// client's part (P2V.Controller's VmRegistration, `p2v createvm --controller`): this layer knows no network.
/// </summary>
public static class VmCreator
{
    public static async Task<CreatedVm> CreateAsync(MigrationPlan plan, CreateVmOptions options, CancellationToken cancel = default)
    {
        foreach (var d in plan.Disks)
            if (File.Exists(d.File) && !options.Overwrite)
                throw new IOException($"{d.File} exists already (--force replaces it)");

        var disks = new List<string>();
        foreach (var d in plan.Disks)
        {
            cancel.ThrowIfCancellationRequested();
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(d.File))!);
            if (File.Exists(d.File)) File.Delete(d.File);
            CreateDisk(d, options.ZeroFill);
            disks.Add(d.File);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(plan.Floppy))!);
        if (options.FloppySource is { } source)
            File.Copy(source, plan.Floppy, overwrite: true);
        else
            await MakeFloppyAsync(options.MakeFloppyScript ?? FindMakeFloppy(), plan.Floppy, cancel);

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(plan.ConfigFile))!);
        await File.WriteAllBytesAsync(plan.ConfigFile, MigrationFolder.Configuration(plan), cancel);
        if (plan.Target == TargetKind.Qemu && !OperatingSystem.IsWindows())
            File.SetUnixFileMode(plan.ConfigFile, File.GetUnixFileMode(plan.ConfigFile) | UnixFileMode.UserExecute);

        var networks = new List<string>();
        foreach (var (network, bytes) in MigrationFolder.NetworkDefinitions(plan))
        {
            var path = network.Definition!;
            if (File.Exists(path)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            AtomicFile.WriteAllBytes(path, bytes);
            if (plan.Target == TargetKind.Qemu && !OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
            networks.Add(path);
        }

        var device = DeviceRecord(plan);
        var deviceFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(plan.ConfigFile))!, plan.Name + "_device.json");
        await File.WriteAllTextAsync(deviceFile, JsonSerializer.Serialize(device, MigrationJson.Default.TargetDeviceRecord) + "\n", cancel);
        return new CreatedVm(disks, plan.Floppy, plan.ConfigFile, deviceFile, networks);
    }

    private static void CreateDisk(PlannedDisk d, bool zeroFill)
    {
        var prealloc = zeroFill ? Preallocation.ZeroFill : Preallocation.Sparse;
        if (d.Format == VirtualDiskFormat.Vmdk)
        {
            // A descriptor naming a raw "-flat.vmdk" extent: no VMDK writer needed, and any tool reads the extent as raw.
            var flat = Path.ChangeExtension(d.File, null) + "-flat.vmdk";
            if (File.Exists(flat)) File.Delete(flat);
            using (VirtualDisk.Create(flat, VirtualDiskFormat.Raw, d.SizeBytes, new VirtualDiskCreateOptions { Preallocation = prealloc })) { }
            File.WriteAllText(d.File, VmdkDescriptor.Write(Path.GetFileName(flat), d.SizeBytes, d.Bus == VmDiskBus.Ide ? "ide" : "lsilogic"), new UTF8Encoding(false));
            return;
        }
        using var disk = VirtualDisk.Create(d.File, d.Format, d.SizeBytes, new VirtualDiskCreateOptions { SectorSize = d.SectorSize, Preallocation = prealloc });
        disk.Flush();
    }

    /// <summary>What the controller needs to know of the target device: its MACs (how it will PXE-boot) and the images to deploy.</summary>
    public static TargetDeviceRecord DeviceRecord(MigrationPlan plan) => new(plan.Name, [.. plan.Nics.Select(n => n.Mac)], "deploy",
        new DeployJobRecord("deploy", plan.Hal.Action == HalAction.SwapToUniprocessor ? "swap-to-uniprocessor" : "keep",
            [.. plan.Disks.Select((d, i) => new DeployDiskRecord(i, d.Source, $"{plan.Name}_{d.Source}.p2vi", d.SizeBytes))]));

    /// <summary>tools/make-floppy: $P2V_MAKE_FLOPPY, else the first tools/make-floppy above the program or the working folder.</summary>
    public static string FindMakeFloppy()
    {
        if (Environment.GetEnvironmentVariable("P2V_MAKE_FLOPPY") is { Length: > 0 } env) return env;
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tools", "make-floppy");
                if (File.Exists(candidate)) return candidate;
            }
        throw new FileNotFoundException("no boot floppy given (--floppy) and tools/make-floppy not found (set P2V_MAKE_FLOPPY)");
    }

    private static async Task MakeFloppyAsync(string script, string output, CancellationToken cancel)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(output);
        using var p = Process.Start(psi) ?? throw new IOException($"cannot run {script}");
        var stderr = p.StandardError.ReadToEndAsync(cancel);
        await p.StandardOutput.ReadToEndAsync(cancel);
        await p.WaitForExitAsync(cancel);
        if (p.ExitCode != 0) throw new IOException($"{script} failed ({p.ExitCode}): {(await stderr).Trim()}");
    }
}
