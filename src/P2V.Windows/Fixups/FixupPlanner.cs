using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Boot;
using P2V.Windows.Drivers;
using P2V.Windows.FirstBoot;
using P2V.Windows.Pe;
using P2V.Windows.Registry;

namespace P2V.Windows.Fixups;

/// <summary>
/// Plans the offline fix-ups of a Windows 2000/XP/2003 installation for a VM (docs/fixups.md): the NTFS boot
/// sector's geometry, the drivers and first-boot scripts asked for (their files), the SYSTEM hive (IDE boot
/// drivers, hardware-specific services, CrashControl, the drivers' services, the first-boot runner), the HAL and
/// kernel swap, and boot.ini. Planning reads only; every new byte is computed here so that --dry-run shows it.
/// </summary>
public static class FixupPlanner
{
    public const string BootSectorStep = "boot sector", RegistryStep = "registry", HalStep = "hal", BootIniStep = "boot.ini";

    private const string HdcClassGuid = "{4D36E96A-E325-11CE-BFC1-08002BE10318}", DiskClassGuid = "{4D36E967-E325-11CE-BFC1-08002BE10318}";

    public static FixupPlan Plan(IVirtualDisk disk, string diskName, FixupOptions options)
    {
        var system = WindowsInstallation.Locate(disk);
        var volume = system.Ntfs;
        volume.AllowUncleanVolume = options.Force;
        WindowsFacts facts;
        try
        {
            facts = WindowsInstallation.Read(volume, new WindowsReadOptions { AcceptDirtyHives = options.Force });
        }
        catch (DirtyHiveException e) when (e.PrimaryUsable)
        {
            throw new DirtyHiveException(e.Hive, e.Offset, e.Reason + "; pass --force to use its primary file as it stands (as hivex reads it), which the fix-up then writes back clean", true);
        }
        int vcpus = Math.Max(1, options.Vcpus);
        var report = new FixupReport
        {
            Disk = diskName,
            VolumeOffset = system.Offset,
            PartitionNumber = system.Partition?.Number,
            Target = options.Target.Name,
            Vcpus = vcpus,
            StartedUtc = DateTime.UtcNow,
            Windows = $"{facts.ProductName} {facts.Version} build {facts.Build} {(facts.ServicePack is { Length: > 0 } sp ? sp : "no service pack")} {facts.Architecture} in {facts.SystemRoot}",
            InstalledHal = facts.Hal is { } h ? $"{h.Path}: {h.OriginalFilename} {h.FileVersion} ({facts.HalType})" : null,
            InstalledKernel = facts.Kernel is { } k ? $"{k.Path}: {k.OriginalFilename} {k.FileVersion}" : null,
        };
        report.Warnings.AddRange(facts.Warnings);
        report.Warnings.AddRange(facts.RecoveredHives.Select(hv => $"{hv} was dirty and is brought up to date from its log; the fixed-up hive is written whole"));
        if (vcpus > options.Target.MaxVcpus)
            report.Errors.Add($"{options.Target.DisplayName} gives a guest at most {options.Target.MaxVcpus} vCPU{(options.Target.MaxVcpus == 1 ? "" : "s")}, not {vcpus}");
        if (volume.UncleanReason() is { } unclean)
        {
            if (options.Force) report.Warnings.Add($"the volume {unclean}; forced: its $LogFile is emptied and it is marked dirty, so Windows runs chkdsk once");
            else report.Errors.Add($"the volume {unclean}; boot the source once and shut it down cleanly, or pass --force");
        }

        var steps = new List<PlannedStep>();
        steps.Add(PlanBootSector(disk, system, volume, report));
        // Files before the registry that points at them: an interrupted run never leaves a service without its driver.
        DriverFixup? drivers = null;
        if (options.DriverDirectory is { } driverFolder)
        {
            (drivers, var step) = DriverFixup.Plan(volume, facts, driverFolder, options.Target, report);
            steps.Add(step);
        }
        FirstBootFixup? firstBoot = null;
        if (options.FirstBootScripts.Count > 0)
        {
            (firstBoot, var step) = FirstBootFixup.Plan(volume, facts, options.FirstBootScripts, report);
            steps.Add(step);
        }
        var hal = PlanHal(volume, facts, options, vcpus, report, out bool swapping);
        steps.Add(PlanRegistry(volume, facts, options, report, drivers, firstBoot));
        steps.Add(hal);
        steps.Add(PlanBootIni(volume, system, swapping, report));
        if (report.Errors.Count == 0) Rehearse(disk, system, options, steps, report);
        return new FixupPlan(disk, volume, facts, report, steps);
    }

    /// <summary>
    /// Carries the steps out on a <see cref="RehearsalDisk"/> over the disk: whatever would stop the real run stops
    /// the plan here, as an error, with nothing written — so --dry-run fails exactly when the run would.
    /// </summary>
    private static void Rehearse(IVirtualDisk disk, WindowsLocation system, FixupOptions options, List<PlannedStep> steps, FixupReport report)
    {
        var scratch = new RehearsalDisk(disk);
        var volume = NtfsVolume.Open(new DiskSlice(scratch, system.Offset, system.Volume.Length));
        volume.AllowUncleanVolume = options.Force;
        var writer = new FixupWriter(scratch, volume, new FixupReport { Disk = report.Disk, Target = report.Target }, reportPath: null);
        foreach (var step in steps)
        {
            try
            {
                step.Apply(writer);
            }
            catch (Exception e) when (e is IOException or NotSupportedException or InvalidDataException or InvalidOperationException or ArgumentException)
            {
                report.Errors.Add($"the {step.Name} step cannot be carried out: {e.Message}");
                return;
            }
        }
    }

    // ---- Boot sector ------------------------------------------------------------------------------------

    private static PlannedStep PlanBootSector(IVirtualDisk disk, WindowsLocation system, NtfsVolume volume, FixupReport report)
    {
        var details = new List<string>();
        var writes = new List<(long Offset, byte[] Bytes, string What)>();
        if (system.Partition is null)
        {
            details.Add("the disk is a bare volume with no partition table: hidden sectors and heads left as they are");
            return new PlannedStep(BootSectorStep, "NTFS boot sector geometry", details, _ => { });
        }
        long hidden = system.Offset / 512;
        int heads = DiskGeometry.Heads(disk.Length);
        int bps = volume.BootSector.BytesPerSector;
        var sectors = new List<(long Offset, string Name)> { (0, "boot sector") };
        long backup = volume.BootSector.TotalSectors * bps;
        if (backup + NtfsBootSector.Size <= system.Volume.Length) sectors.Add((backup, "backup boot sector"));
        else report.Warnings.Add("the backup boot sector lies past the end of the partition; only the primary one is adjusted");
        foreach (var (offset, name) in sectors)
        {
            var sector = new byte[NtfsBootSector.Size];
            system.Volume.ReadAt(offset, sector);
            if (!NtfsBootSector.TryParse(sector, out var boot, out var problem, out _))
            {
                report.Warnings.Add($"{name} at volume byte {offset} is not a valid NTFS boot sector ({problem}); left alone");
                continue;
            }
            void Field(int at, byte[] value, string label, long current, long wanted)
            {
                if (current == wanted) return;
                writes.Add((system.Offset + offset + at, value, $"{name} {label} (0x{at:X2}): {current} → {wanted}"));
                details.Add(writes[^1].What);
            }
            Field(NtfsBootSector.SectorsPerTrackField, FixupWriter.U16(DiskGeometry.SectorsPerTrack), "sectors per track", boot!.SectorsPerTrack, DiskGeometry.SectorsPerTrack);
            Field(NtfsBootSector.HeadsField, FixupWriter.U16(heads), "heads", boot.Heads, heads);
            Field(NtfsBootSector.HiddenSectorsField, FixupWriter.U32(hidden), "hidden sectors", boot.HiddenSectors, hidden);
        }
        if (writes.Count == 0) details.Add($"nothing to change: hidden sectors {hidden}, {heads} heads, {DiskGeometry.SectorsPerTrack} sectors per track already");
        return new PlannedStep(BootSectorStep, $"NTFS boot sector geometry for a {disk.Length / (1 << 20)} MiB disk, partition at sector {hidden}", details, w =>
        {
            foreach (var (offset, bytes, what) in writes) w.WriteBytes(BootSectorStep, offset, bytes, what);
        });
    }

    // ---- SYSTEM hive --------------------------------------------------------------------------------------

    private static PlannedStep PlanRegistry(NtfsVolume volume, WindowsFacts facts, FixupOptions options, FixupReport report, DriverFixup? drivers, FirstBootFixup? firstBoot)
    {
        string hivePath = facts.SystemRoot + @"\system32\config\SYSTEM";
        var warnings = new List<string>();
        var hive = new WindowsInstallation.HiveOpener(volume, new WindowsReadOptions { AcceptDirtyHives = options.Force }, warnings).Open(hivePath);
        if (hive is null)
        {
            report.Errors.Add($"{hivePath} is missing: the registry fix-ups cannot be made");
            return new PlannedStep(RegistryStep, "SYSTEM hive", ["the hive is missing"], _ => { });
        }
        var edits = new RegistryEdits(hive, hivePath, RegistryStep);
        var select = hive.Root.OpenSubkey("Select");
        // Every control set the loader may start from: the current one, the default, and Last Known Good.
        var sets = new[] { select?.GetDWord("Current"), select?.GetDWord("Default"), select?.GetDWord("LastKnownGood") }
            .Where(n => n is > 0).Select(n => $"ControlSet{n:000}").Distinct(StringComparer.OrdinalIgnoreCase)
            .Where(s => hive.Root.OpenSubkey(s) is not null).ToList();
        if (sets.Count == 0)
        {
            report.Errors.Add($"{hivePath}: Select\\Current names no existing control set");
            return new PlannedStep(RegistryStep, "SYSTEM hive", ["no control set"], _ => { });
        }

        HardwareServiceList hardware;
        try
        {
            hardware = options.HardwareServices ?? HardwareServiceList.Load(HardwareServiceList.DefaultPath);
        }
        catch (IOException e)
        {
            report.Errors.Add($"the hardware-specific service list cannot be read: {e.Message}");
            hardware = new HardwareServiceList(new Dictionary<string, string>());
        }

        foreach (var set in sets)
        {
            // KB 314082 (Mergeide): the IDE channel and controller device ids bound to their drivers, which start at boot.
            var cddb = set + @"\Control\CriticalDeviceDatabase\";
            foreach (var (device, service, cls) in new[]
            {
                ("primary_ide_channel", "atapi", HdcClassGuid),
                ("secondary_ide_channel", "atapi", HdcClassGuid),
                ("*pnp0600", "atapi", HdcClassGuid),
                ("gendisk", "disk", DiskClassGuid),
                ("pci#cc_0101", "pciide", HdcClassGuid),
                (options.Target.IdeControllerDeviceKey, "intelide", HdcClassGuid),
            })
            {
                edits.SetString(cddb + device, "ClassGUID", cls);
                edits.SetString(cddb + device, "Service", service);
            }
            foreach (var (service, group, tag, display) in new[]
            {
                ("atapi", "SCSI miniport", 25u, "Standard IDE/ESDI Hard Disk Controller"),
                ("IntelIde", "System Bus Extender", 4u, "IntelIde"),
                ("PCIIde", "System Bus Extender", 3u, "PCIIde"),
            })
            {
                var key = set + @"\Services\" + (hive.Root.OpenSubkey(set + @"\Services")?.SubkeyNames.FirstOrDefault(n => string.Equals(n, service, StringComparison.OrdinalIgnoreCase)) ?? service);
                edits.SetDWord(key, "Start", 0);
                edits.SetDWord(key, "Type", 1, onlyIfMissing: true);
                edits.SetDWord(key, "ErrorControl", 1, onlyIfMissing: true);
                edits.SetString(key, "Group", group, onlyIfMissing: true);
                edits.SetDWord(key, "Tag", tag, onlyIfMissing: true);
                edits.SetString(key, "DisplayName", display, onlyIfMissing: true);
                edits.SetString(key, "ImagePath", $@"system32\DRIVERS\{service.ToLowerInvariant()}.sys", RegistryValueKind.ExpandString, onlyIfMissing: true);
                if (!volume.FileExists($@"{facts.SystemRoot}\system32\drivers\{service}.sys"))
                    report.Warnings.Add($@"{facts.SystemRoot}\system32\drivers\{service}.sys is missing: copy it from the installation media, or Windows stops with STOP 0x7B");
            }

            if (hive.Root.OpenSubkey(set + @"\Services") is { } services)
                foreach (var name in services.SubkeyNames.Where(hardware.Contains).ToList())
                    if (services.OpenSubkey(name)?.GetDWord("Start") != 4)
                        edits.SetDWord($@"{set}\Services\{name}", "Start", 4);

            if (hive.Root.OpenSubkey(set + @"\Control\Class") is { } classes)
            {
                foreach (var cls in classes.SubkeyNames.ToList())
                {
                    var key = $@"{set}\Control\Class\{cls}";
                    foreach (var filterValue in new[] { "UpperFilters", "LowerFilters" })
                    {
                        var value = hive.Root.OpenSubkey(key)?.GetValue(filterValue);
                        if (value is null || value.Kind != RegistryValueKind.MultiString) continue;
                        var filters = value.AsMultiString();
                        var kept = filters.Where(f => !hardware.Contains(f)).ToList();
                        if (kept.Count == filters.Length) continue;
                        if (kept.Count == 0) edits.Delete(key, filterValue);
                        else edits.SetMultiString(key, filterValue, kept);
                    }
                }
            }

            edits.SetDWord(set + @"\Control\CrashControl", "AutoReboot", 0);
            drivers?.EditRegistry(edits, set);
        }
        firstBoot?.EditRegistry(edits, report);

        report.Warnings.AddRange(warnings.Except(report.Warnings));
        var details = edits.Details.Count > 0 ? edits.Details : ["nothing to change"];
        // A hive used dirty is written back even unchanged, so that it is clean from now on.
        if (hive.OpenedDirty) details.Add($"{hivePath} was dirty with no log: written back clean (its two sequence numbers equal)");
        byte[]? newHive = edits.Changes.Count > 0 || hive.OpenedDirty ? hive.ToArray() : null;
        var title = $"SYSTEM hive ({string.Join(", ", sets)}): IDE boot drivers for {options.Target.Name}, hardware-specific services disabled, AutoReboot off" +
            (drivers is null ? "" : ", the drivers' services") + (firstBoot is null ? "" : ", the first-boot runner");
        return new PlannedStep(RegistryStep, title, details, w =>
        {
            if (newHive is null) return;
            w.Record(edits.Changes);
            w.ReplaceFile(RegistryStep, hivePath, newHive, $"{hivePath}: {edits.Changes.Count} registry values changed{(hive.OpenedDirty ? ", written back clean" : "")}", "edited");
        });
    }

    // ---- HAL and kernel ---------------------------------------------------------------------------------

    private static PlannedStep PlanHal(NtfsVolume volume, WindowsFacts facts, FixupOptions options, int vcpus, FixupReport report, out bool swapping)
    {
        swapping = false;
        var details = new List<string>();
        if (vcpus > 1 && facts.ProductName?.Contains("Home", StringComparison.OrdinalIgnoreCase) == true)
        {
            // Windows XP Home Edition licenses and uses one processor: keep it uniprocessor.
            report.Warnings.Add($"{facts.ProductName} uses one processor: planned for a uniprocessor HAL despite --vcpus {vcpus}");
            vcpus = 1;
        }
        var target = options.Target.Hal(vcpus);
        var installed = facts.HalType;
        string title = $"HAL and kernel for {options.Target.Name} with {vcpus} vCPU{(vcpus == 1 ? "" : "s")} ({target.FileName()})";
        if (facts.BcdEntries.Count > 0 || facts.BootIni is null)
        {
            details.Add("Windows Vista or later (no boot.ini): the HAL is chosen at boot, nothing to swap");
            return new PlannedStep(HalStep, title, details, _ => { });
        }
        if (installed == HalType.Unknown || facts.Kernel?.FileVersion is null)
        {
            report.Errors.Add($"the installed HAL or kernel cannot be identified by its version resource ({facts.Hal?.OriginalFilename ?? "no hal.dll"}, {facts.Kernel?.OriginalFilename ?? "no ntoskrnl.exe"}); the HAL swap cannot be planned");
            return new PlannedStep(HalStep, title, ["unknown HAL"], _ => { });
        }
        bool wantMp = target.IsMultiprocessor();
        if (installed.IsAcpi() && installed.IsMultiprocessor() == wantMp && facts.Kernel.IsMultiprocessorKernel == wantMp)
        {
            details.Add($"the installed HAL ({installed.FileName()}) is already of the target's kind (ACPI, {(wantMp ? "multi" : "uni")}processor): no swap");
            return new PlannedStep(HalStep, title, details, _ => { });
        }

        swapping = true;
        var kernelVersion = facts.Kernel.FileVersion;
        var library = new PatchLibrary(options.PatchDirectory, volume, facts);
        var system32 = facts.SystemRoot + @"\system32\";
        var swaps = new List<(string Installed, string Wanted, bool Exact)> { ("hal.dll", target.FileName()!, false) };
        swaps.Add(("ntoskrnl.exe", wantMp ? "ntkrnlmp.exe" : "ntoskrnl.exe", true));
        if (volume.FileExists(system32 + "ntkrnlpa.exe")) swaps.Add(("ntkrnlpa.exe", wantMp ? "ntkrpamp.exe" : "ntkrnlpa.exe", true));

        var planned = new List<(string Path, PatchFile File, string Description)>();
        foreach (var (installedName, wanted, exact) in swaps)
        {
            var path = system32 + installedName;
            Version version = kernelVersion;
            PeMachine machine = facts.Kernel.Machine;
            string current = "?";
            if (volume.FileExists(path))
            {
                try
                {
                    var info = PeImage.Parse(volume.ReadFile(path, 64L << 20), path).ReadVersionInfo();
                    current = $"{info?.OriginalFilename} {info?.FileVersion}";
                    if (exact && info is not null) version = info.FileVersion; // each kernel is matched with its own installed version
                }
                catch (PeFormatException e) { report.Warnings.Add(e.Message); }
            }
            var rejected = new List<string>();
            var found = library.Find(wanted, machine, version, exact, rejected);
            if (found is null)
            {
                var folder = library.ExpectedFolder(kernelVersion);
                report.Errors.Add($"no {wanted} {(exact ? version.ToString() : $"of build {version.Build}")} for {path}: put it in {folder ?? "a patch library (--patches DIR)"}" +
                    (rejected.Count > 0 ? $" (turned down: {string.Join("; ", rejected)})" : ""));
                continue;
            }
            var description = $"{path}: {current} → {wanted} {found.Version.FileVersion} from {found.Origin}";
            planned.Add((path, found, description));
            details.Add(description);
        }
        details.Add($"the HAL kind changes from {installed} to {target}");
        return new PlannedStep(HalStep, title, details, w =>
        {
            foreach (var (path, file, description) in planned) w.ReplaceFile(HalStep, path, file.Content, description, file.Origin);
        });
    }

    // ---- boot.ini -----------------------------------------------------------------------------------------

    private static PlannedStep PlanBootIni(NtfsVolume volume, WindowsLocation system, bool swapping, FixupReport report)
    {
        const string path = @"\boot.ini";
        var details = new List<string>();
        if (!volume.FileExists(path))
        {
            details.Add("no boot.ini on the volume");
            return new PlannedStep(BootIniStep, "boot.ini", details, _ => { });
        }
        var old = volume.ReadFile(path, 1 << 20);
        var ini = BootIni.Parse(old);
        var defaultArc = ini.DefaultEntry?.Arc;
        foreach (var entry in ini.OperatingSystems)
        {
            if (entry.Arc is not { } arc || (defaultArc is not null && !arc.SameVolume(defaultArc))) continue;
            // The system disk is the VM's first IDE disk: BIOS disk 0 through the firmware (multi), whatever it was.
            int partition = system.Partition is null ? arc.Partition ?? 1 : system.ArcPartition;
            var newPath = $"multi(0)disk(0)rdisk(0)partition({partition}){arc.Path}";
            if (string.Equals(ini.Default, entry.BootPath, StringComparison.OrdinalIgnoreCase) && !string.Equals(ini.Default, newPath, StringComparison.Ordinal))
            {
                details.Add($"default={ini.Default} → {newPath}");
                ini.Default = newPath;
            }
            if (!string.Equals(entry.BootPath, newPath, StringComparison.Ordinal))
            {
                details.Add($"{entry.BootPath} → {newPath}");
                entry.BootPath = newPath;
            }
            if (swapping)
                foreach (var sw in new[] { "HAL", "KERNEL" })
                    if (entry.GetSwitch(sw) is { } value && entry.RemoveSwitch(sw))
                        details.Add($"\"{entry.Description}\": /{sw}={value} removed (hal.dll and ntoskrnl.exe are swapped instead)");
        }
        var content = ini.ToBytes();
        bool rewrite = !content.AsSpan().SequenceEqual(old);
        var attributes = volume.GetFileAttributes(path);
        const FileAttributes shr = FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly;
        if ((attributes & shr) != 0) details.Add($"attributes {attributes & shr} cleared");
        if (!rewrite && (attributes & shr) == 0) details.Add("nothing to change");
        return new PlannedStep(BootIniStep, "boot.ini: ARC paths for the VM's disk order, System/Hidden/Read-only cleared", details, w =>
        {
            if (rewrite) w.ReplaceFile(BootIniStep, path, content, $"{path} rewritten: {string.Join("; ", details.Where(d => !d.StartsWith("attributes")))}", "edited");
            w.SetAttributes(BootIniStep, path, 0, shr, $"{path}: attributes {attributes & shr} cleared");
        });
    }
}
