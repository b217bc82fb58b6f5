using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Tests.Pe;
using P2V.Windows.Tests.Registry;

namespace P2V.Windows.Tests.Fixups;

/// <summary>
/// A Windows Server 2003 SP2 installation as a migrated disk holds it: a 48 MiB MBR disk (sfdisk) with one NTFS
/// partition at sector 2048 made by mkntfs (hidden sectors and heads left 0, as on a disk image) and filled by
/// wimapply — boot.ini pointing at scsi(0)…partition(2) with /HAL= and /KERNEL= switches and S/H/R attributes,
/// SYSTEM and SOFTWARE hives from hivexregedit --merge, hal.dll/ntoskrnl.exe/ntkrnlpa.exe stand-ins built by
/// mingw-w64 (halmacpi.dll, ntkrnlmp.exe, ntkrpamp.exe: a multiprocessor ACPI server), the IDE drivers, and
/// Driver Cache\i386\sp2.cab made by gcab. Beside it, a patch library with every HAL and kernel of that build.
/// </summary>
public sealed class FixupFixture : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public const string KernelVersion = "5.2.3790.4354", HalVersion = "5.2.3790.3959";
    public const long PartitionOffset = 2048 * 512;

    public const string BootIniText =
        "[boot loader]\r\ntimeout=30\r\ndefault=scsi(0)disk(1)rdisk(0)partition(2)\\WINDOWS\r\n[operating systems]\r\n" +
        "scsi(0)disk(1)rdisk(0)partition(2)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=optout /fastdetect /KERNEL=ntkrnlmp.exe /HAL=halmacpi.dll\r\n" +
        "C:\\CMDCONS\\BOOTSECT.DAT=\"Microsoft Windows Recovery Console\" /cmdcons\r\n";

    public const string BootIniExpected =
        "[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n[operating systems]\r\n" +
        "multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=optout /fastdetect\r\n" +
        "C:\\CMDCONS\\BOOTSECT.DAT=\"Microsoft Windows Recovery Console\" /cmdcons\r\n";

    public FixupFixture()
    {
        var pe = Directory.CreateDirectory(_tmp.File("pe")).FullName;
        foreach (var hal in new[] { "hal.dll", "halacpi.dll", "halaacpi.dll", "halmacpi.dll", "halapic.dll", "halmps.dll" })
            Pe[hal] = File.ReadAllBytes(PeFixtures.Build(pe, hal, hal, HalVersion));
        foreach (var kernel in new[] { "ntoskrnl.exe", "ntkrnlmp.exe", "ntkrnlpa.exe", "ntkrpamp.exe" })
            Pe[kernel] = File.ReadAllBytes(PeFixtures.Build(pe, kernel, kernel, KernelVersion));

        PatchLibrary = _tmp.File("patches");
        var folder = Directory.CreateDirectory(Path.Combine(PatchLibrary, "5.2", "sp2", "x86", KernelVersion)).FullName;
        foreach (var (name, bytes) in Pe) File.WriteAllBytes(Path.Combine(folder, name), bytes);

        var tree = _tmp.File("tree");
        var system32 = Path.Combine(tree, "WINDOWS", "system32");
        var config = Directory.CreateDirectory(Path.Combine(system32, "config")).FullName;
        var drivers = Directory.CreateDirectory(Path.Combine(system32, "drivers")).FullName;
        void Put(string path, byte[] bytes)
        {
            var host = Path.Combine(tree, path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(host)!);
            File.WriteAllBytes(host, bytes);
            Files[path] = bytes;
        }
        Put("/boot.ini", System.Text.Encoding.Latin1.GetBytes(BootIniText));
        Put("/WINDOWS/system32/config/system", File.ReadAllBytes(HiveFixtures.Build(_tmp, "system", HiveFixtures.SystemReg("SRV-DB01"), 3)));
        Put("/WINDOWS/system32/config/software", File.ReadAllBytes(HiveFixtures.Build(_tmp, "software", HiveFixtures.SoftwareReg(), 3)));
        Put("/WINDOWS/system32/hal.dll", Pe["halmacpi.dll"]);
        Put("/WINDOWS/system32/ntoskrnl.exe", Pe["ntkrnlmp.exe"]);
        Put("/WINDOWS/system32/ntkrnlpa.exe", Pe["ntkrpamp.exe"]);
        // What the /HAL= and /KERNEL= switches of boot.ini load instead of hal.dll and ntoskrnl.exe.
        Put("/WINDOWS/system32/halmacpi.dll", Pe["halmacpi.dll"]);
        Put("/WINDOWS/system32/ntkrnlmp.exe", Pe["ntkrnlmp.exe"]);
        var random = new Random(3);
        foreach (var driver in new[] { "atapi.sys", "intelide.sys", "pciide.sys", "pciidex.sys", "CpqCiDrv.sys" })
        {
            var bytes = new byte[20_000];
            random.NextBytes(bytes);
            Put("/WINDOWS/system32/drivers/" + driver, bytes);
        }
        _ = drivers;

        // The installation's own cabinet: the uniprocessor HAL and kernels, as SP2 ships them.
        var cabFiles = Directory.CreateDirectory(_tmp.File("cabfiles")).FullName;
        foreach (var name in new[] { "halaacpi.dll", "halacpi.dll", "ntoskrnl.exe", "ntkrnlpa.exe" }) File.WriteAllBytes(Path.Combine(cabFiles, name), Pe[name]);
        var cab = Path.Combine(tree, "WINDOWS", "Driver Cache", "i386", "sp2.cab");
        Directory.CreateDirectory(Path.GetDirectoryName(cab)!);
        ExternalTool.Run("gcab", ["-c", "-z", "-n", cab, .. Directory.GetFiles(cabFiles).Order()]);
        CabExtracted = Directory.CreateDirectory(_tmp.File("cabextract")).FullName;
        ExternalTool.Run("cabextract", "-q", "-d", CabExtracted, cab);

        _tree = tree;
        BaseDisk = BuildDisk("disk", tree);
    }

    private readonly string _tree;

    /// <summary>
    /// A disk of its own from a copy of the fixture's tree changed by <paramref name="change"/> (which gets the
    /// tree's folder): for files that only wimapply can lay out on NTFS, such as sparse ones.
    /// </summary>
    public string VariantDisk(string name, Action<string> change)
    {
        var tree = _tmp.File(name + ".tree");
        ExternalTool.Run("cp", "-a", "--sparse=always", _tree, tree);
        change(tree);
        return BuildDisk(name, tree);
    }

    private string BuildDisk(string name, string tree)
    {
        var volume = _tmp.File(name + ".volume");
        using (var f = File.Create(volume)) f.SetLength((48L << 20) - PartitionOffset);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-L", "SYSTEM", volume);
        var wim = _tmp.File(name + ".wim");
        ExternalTool.Run("wimcapture", tree, wim, "--compress=none");
        ExternalTool.Run("wimapply", wim, "1", volume);
        File.Delete(wim);
        // wimlib cannot carry Windows attributes from a Linux tree: mark boot.ini System/Hidden/Read-only as setup does
        // (our attribute write, itself checked against ntfsinfo in the NTFS write tests).
        using (var disk = RawDisk.OpenReadWrite(volume))
            NtfsVolume.Open(disk).SetFileAttributes("/boot.ini", FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly, 0);
        Assert.Contains("READONLY HIDDEN SYSTEM", ExternalTool.Run("ntfsinfo", "-F", "/boot.ini", volume));

        var path = _tmp.File(name + ".img");
        using (var f = File.Create(path)) f.SetLength(48L << 20);
        ExternalTool.RunWith("sfdisk", ["--no-reread", "--no-tell-kernel", path], "label: dos\nstart=2048, type=7, bootable\n");
        ExternalTool.Run("dd", $"if={volume}", $"of={path}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none");
        File.Delete(volume);
        return path;
    }

    public string BaseDisk { get; }
    public string PatchLibrary { get; }
    public string CabExtracted { get; }
    public Dictionary<string, byte[]> Pe { get; } = new(StringComparer.OrdinalIgnoreCase);
    public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

    public string TempFile(string name) => _tmp.File(name);

    public string CopyDisk(string name)
    {
        var path = _tmp.File(name + ".img");
        File.Copy(BaseDisk, path, overwrite: true);
        return path;
    }

    /// <summary>The partition as a file of its own, for ntfs-3g's tools (which take no offset).</summary>
    public string ExtractVolume(string disk)
    {
        var path = disk + ".vol";
        ExternalTool.Run("dd", $"if={disk}", $"of={path}", "bs=1M", "skip=1", "count=47", "status=none"); // the partition, not what a VHD rounds the disk up to
        return path;
    }

    public void Dispose() => _tmp.Dispose();
}
