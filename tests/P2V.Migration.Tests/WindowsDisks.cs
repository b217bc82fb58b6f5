using System.Text;

namespace P2V.Migration.Tests;

/// <summary>
/// Source disks made with real tools, built once for all tests: sfdisk lays out the tables, mkntfs makes the
/// Windows volume and wimapply fills it from a tree holding boot.ini, hal.dll, ntoskrnl.exe, the SYSTEM hive,
/// repair\setup.log and hiberfil.sys; mkfs.fat makes a FAT16 data volume; a dynamic disk has an MBR entry of type 0x42.
/// </summary>
public sealed class WindowsDisks : IDisposable
{
    private readonly TempDirectory _dir = new();

    /// <summary>MBR: partition 1 NTFS with Windows Server 2003 (MP HAL), not hibernated; partition 2 FAT16.</summary>
    public string SystemDisk { get; }
    /// <summary>The Windows NTFS volume of <see cref="SystemDisk"/> on its own, for ntfsinfo.</summary>
    public string SystemVolume { get; }
    /// <summary>The same, but hiberfil.sys holds a hibernated session.</summary>
    public string HibernatedDisk { get; }
    /// <summary>A dynamic disk whose 0x42 entry, kept by Windows for the boot volume, holds the Windows volume.</summary>
    public string DynamicSystemDisk { get; }
    /// <summary>A dynamic data disk: one 0x42 entry and nothing readable.</summary>
    public string DynamicDataDisk { get; }
    /// <summary>A basic disk whose only partition is BitLocker-encrypted (its boot sector's OEM id "-FVE-FS-").</summary>
    public string BitLockerDisk { get; }

    private const long DiskBytes = 48L << 20, NtfsBytes = 32L << 20, NtfsStart = 2048;

    public WindowsDisks()
    {
        var clean = SystemVolume = NtfsVolume("clean", hibernated: false);
        var hibernated = NtfsVolume("hib", hibernated: true);
        var fat = _dir.File("fat.img");
        ExternalTool.Run("mkfs.fat", "-C", "-F", "16", "-n", "DATA", fat, (14 << 10).ToString());

        SystemDisk = Disk("system.img", "label: dos\nlabel-id: 0x5eed0001\nstart=2048, size=65536, type=7, bootable\nstart=67584, type=6\n",
            (clean, NtfsStart), (fat, 67584));
        HibernatedDisk = Disk("hibernated.img", "label: dos\nlabel-id: 0x5eed0002\nstart=2048, size=65536, type=7, bootable\n", (hibernated, NtfsStart));
        DynamicSystemDisk = Disk("dynamic-system.img", "label: dos\nlabel-id: 0x5eed0003\nstart=2048, size=65536, type=42, bootable\n", (clean, NtfsStart));
        DynamicDataDisk = Disk("dynamic-data.img", "label: dos\nlabel-id: 0x5eed0004\nstart=2048, type=42\n");

        BitLockerDisk = Disk("bitlocker.img", "label: dos\nlabel-id: 0x5eed0005\nstart=2048, type=7\n");
        // The start of a BitLocker boot sector: jump, then the OEM id that replaces "NTFS    ".
        using (var f = new FileStream(BitLockerDisk, FileMode.Open, FileAccess.Write))
        {
            f.Position = NtfsStart * 512;
            f.Write([0xEB, 0x58, 0x90, .. "-FVE-FS-"u8]);
        }
    }

    private string NtfsVolume(string name, bool hibernated)
    {
        var tree = Path.Combine(_dir.Path, name + "-tree");
        void Put(string path, byte[] bytes)
        {
            var full = Path.Combine(tree, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, bytes);
        }
        Put("boot.ini", Encoding.ASCII.GetBytes(
            "[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n[operating systems]\r\n"
            + "multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=optout /fastdetect\r\n"));
        Put("WINDOWS/system32/hal.dll", [(byte)'M', (byte)'Z', .. new byte[4094]]);
        Put("WINDOWS/system32/ntoskrnl.exe", [(byte)'M', (byte)'Z', .. new byte[8190]]);
        Directory.CreateDirectory(Path.Combine(tree, "WINDOWS/system32/config"));
        Hive(Path.Combine(tree, "WINDOWS/system32/config/SOFTWARE"), "SOFTWARE",
            "[\\Microsoft]\n\n[\\Microsoft\\Windows NT]\n\n[\\Microsoft\\Windows NT\\CurrentVersion]\n"
            + "\"ProductName\"=\"Microsoft Windows Server 2003\"\n\"CurrentVersion\"=\"5.2\"\n\"CurrentBuildNumber\"=\"3790\"\n\"CSDVersion\"=\"Service Pack 2\"\n\n");
        Hive(Path.Combine(tree, "WINDOWS/system32/config/SYSTEM"), "SYSTEM",
            "[\\Select]\n\"Current\"=dword:00000001\n\n[\\ControlSet001]\n\n[\\ControlSet001\\Control]\n\n"
            + "[\\ControlSet001\\Control\\ComputerName]\n\n[\\ControlSet001\\Control\\ComputerName\\ComputerName]\n\"ComputerName\"=\"SRV-OLD\"\n\n"
            + "[\\ControlSet001\\Services]\n\n[\\ControlSet001\\Services\\atapi]\n\"Start\"=dword:00000000\n\"Type\"=dword:00000001\n\n"
            + "[\\ControlSet001\\Services\\W32Time]\n\"Start\"=dword:00000002\n\"Type\"=dword:00000020\n\n"
            + SmallServerTcpip);
        Put("WINDOWS/repair/setup.log", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(
            "[Paths]\r\nTargetDirectory = \"\\WINDOWS\"\r\n[Files.WinNt]\r\n\\WINDOWS\\system32\\ntoskrnl.exe = \"ntkrnlmp.exe\",\"23d4c7\"\r\n"
            + "\\WINDOWS\\system32\\hal.dll = \"halmacpi.dll\",\"1c6d0\"\r\n")]);

        var volume = _dir.File(name + ".ntfs");
        using (var f = File.Create(volume)) f.SetLength(NtfsBytes);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-s", "512", "-p", NtfsStart.ToString(), "-L", "SYSTEM", volume);
        var wim = _dir.File(name + ".wim");
        ExternalTool.Run("wimcapture", tree, wim, "--compress=none");
        ExternalTool.Run("wimapply", wim, "1", volume);
        // wimcapture leaves \hiberfil.sys and \pagefile.sys out by default, as Windows imaging should; ntfscp puts them in.
        var hiber = new byte[64 << 10];
        if (hibernated) "hibr"u8.CopyTo(hiber);
        var hiberFile = _dir.File(name + "-hiberfil.sys");
        File.WriteAllBytes(hiberFile, hiber);
        ExternalTool.Run("ntfscp", "-f", volume, hiberFile, "hiberfil.sys");
        return volume;
    }

    /// <summary>
    /// The server's Broadcom adapter (PCI 02:00.0, 14e4:1677) as Windows Server 2003 records it: the Enum\PCI instance
    /// whose Driver names the network class entry 0007, whose NetCfgInstanceId keys the static TCP/IP settings
    /// 192.168.10.20/24; and a WAN miniport (software, "ms_ndiswanip") whose Tcpip interface must be left out.
    /// </summary>
    internal const string NicGuid = "{5B9D1C1E-7A43-4F0B-9F6A-2C1D3E4F5A60}", WanGuid = "{0E1A2B3C-4D5E-4F60-8172-93A4B5C6D7E8}";

    private const string NetClass = "[\\ControlSet001\\Control\\Class\\{4D36E972-E325-11CE-BFC1-08002BE10318}";

    private static readonly string SmallServerTcpip =
        "[\\ControlSet001\\Control\\Class]\n\n" + NetClass + "]\n\n"
        + NetClass + "\\0007]\n\"NetCfgInstanceId\"=\"" + NicGuid + "\"\n\"MatchingDeviceId\"=\"pci\\\\ven_14e4&dev_1677\"\n"
        + "\"DriverDesc\"=\"Broadcom NetXtreme Gigabit Ethernet\"\n\n"
        + NetClass + "\\0003]\n\"NetCfgInstanceId\"=\"" + WanGuid + "\"\n\"MatchingDeviceId\"=\"ms_ndiswanip\"\n\n"
        + "[\\ControlSet001\\Enum]\n\n[\\ControlSet001\\Enum\\PCI]\n\n"
        + "[\\ControlSet001\\Enum\\PCI\\VEN_14E4&DEV_1677&SUBSYS_01AD1028&REV_01]\n\n"
        + "[\\ControlSet001\\Enum\\PCI\\VEN_14E4&DEV_1677&SUBSYS_01AD1028&REV_01\\4&2b8f1b0b&0&00E1]\n"
        + "\"Driver\"=\"{4D36E972-E325-11CE-BFC1-08002BE10318}\\\\0007\"\n\"LocationInformation\"=\"PCI bus 2, device 0, function 0\"\n\n"
        + "[\\ControlSet001\\Services\\Tcpip]\n\n[\\ControlSet001\\Services\\Tcpip\\Parameters]\n\n"
        + "[\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces]\n\n"
        + "[\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\" + NicGuid + "]\n\"EnableDHCP\"=dword:00000000\n"
        // REG_MULTI_SZ "192.168.10.20" and "255.255.255.0", UTF-16LE with their terminating NULs (hex(7) in .reg syntax)
        + "\"IPAddress\"=" + RegMultiSz("192.168.10.20") + "\n\"SubnetMask\"=" + RegMultiSz("255.255.255.0") + "\n\n"
        + "[\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\" + WanGuid + "]\n\"EnableDHCP\"=dword:00000000\n"
        + "\"IPAddress\"=" + RegMultiSz("0.0.0.0") + "\n\"SubnetMask\"=" + RegMultiSz("0.0.0.0") + "\n\n";

    /// <summary>A REG_MULTI_SZ in .reg syntax: hex(7): the UTF-16LE strings, each NUL-terminated, then a final NUL.</summary>
    internal static string RegMultiSz(params string[] values) =>
        "hex(7):" + string.Join(",", Encoding.Unicode.GetBytes(string.Concat(values.Select(v => v + "\0")) + "\0").Select(b => b.ToString("x2")));

    /// <summary>An empty hive from P2V.Windows's writer, filled by hivexregedit --merge from .reg text.</summary>
    private void Hive(string path, string name, string reg)
    {
        P2V.Windows.Registry.RegistryHive.Create("CMI-CreateHive{" + name + "}", 3, name).Save(path);
        var regPath = _dir.File(Path.GetFileName(path) + Guid.NewGuid().ToString("N") + ".reg");
        File.WriteAllText(regPath, "Windows Registry Editor Version 5.00\n\n" + reg);
        ExternalTool.Run("hivexregedit", "--merge", path, regPath);
    }

    private string Disk(string name, string sfdiskScript, params (string Volume, long StartSector)[] volumes)
    {
        var path = _dir.File(name);
        using (var f = File.Create(path)) f.SetLength(DiskBytes);
        ExternalTool.RunWith("sfdisk", ["-q", path], sfdiskScript);
        foreach (var (volume, start) in volumes)
            ExternalTool.Run("dd", $"if={volume}", $"of={path}", "bs=512", $"seek={start}", "conv=notrunc,sparse", "status=none");
        return path;
    }

    public void Dispose() => _dir.Dispose();
}
