using System.Text;
using P2V.Windows.Boot;

namespace P2V.Windows.Tests.Boot;

public class BootIniTests
{
    // A Windows Server 2003 boot.ini as setup writes it, with a Recovery Console line, a comment and an unknown section.
    private const string Server2003 =
        "[boot loader]\r\n" +
        "timeout=30\r\n" +
        "default=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n" +
        "[operating systems]\r\n" +
        "multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=optout /fastdetect /PAE\r\n" +
        "multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows Server 2003, Enterprise (debug)\"  /fastdetect   /debug /debugport=com1\r\n" +
        "scsi(0)disk(1)rdisk(0)partition(2)\\WINNT=\"Windows 2000 Server\" /fastdetect\r\n" +
        "signature(8b467c12)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows XP\" /3GB /USERVA=3030\r\n" +
        "C:\\CMDCONS\\BOOTSECT.DAT=\"Microsoft Windows Recovery Console\" /cmdcons\r\n" +
        "; added by the vendor's setup\r\n" +
        "[debug]\r\n" +
        "redirect=COM1\r\n";

    [Fact]
    public void UnchangedFileRoundTripsByteForByte()
    {
        var bytes = Encoding.Latin1.GetBytes(Server2003 + "C:\\=\"Caf\u00e9 DOS\"\r\n");
        Assert.Equal(bytes, BootIni.Parse(bytes).ToBytes());
        Assert.Equal("[boot loader]\ntimeout=5", BootIni.Parse("[boot loader]\ntimeout=5").ToString());
    }

    [Fact]
    public void ParsesLoaderAndEntries()
    {
        var ini = BootIni.Parse(Server2003);
        Assert.Equal(30, ini.Timeout);
        Assert.Equal(@"multi(0)disk(0)rdisk(0)partition(1)\WINDOWS", ini.Default);
        var entries = ini.OperatingSystems;
        Assert.Equal(5, entries.Count);
        var first = ini.DefaultEntry!;
        Assert.Same(entries[0], first);
        Assert.Equal("Windows Server 2003, Enterprise", first.Description);
        Assert.Equal(["/noexecute=optout", "/fastdetect", "/PAE"], first.Switches);
        Assert.Equal("optout", first.GetSwitch("NOEXECUTE"));
        Assert.True(first.HasSwitch("pae"));
        Assert.Null(first.GetSwitch("HAL"));
        var arc = first.Arc!;
        Assert.Equal("multi", arc.Adapter);
        Assert.Equal((0, 0, 0, 1), (arc.Controller, arc.Disk, arc.RDisk, arc.Partition));
        Assert.Equal(@"\WINDOWS", arc.Path);
        Assert.Equal("scsi", entries[2].Arc!.Adapter);
        Assert.Equal(1, entries[2].Arc!.Disk);
        Assert.Equal(0x8b467c12u, entries[3].Arc!.Signature);
        Assert.Equal("3030", entries[3].GetSwitch("USERVA"));
        Assert.Null(entries[4].Arc);
        Assert.Equal("/cmdcons", Assert.Single(entries[4].Switches));
    }

    [Fact]
    public void RewritesOnlyWhatChanged()
    {
        var ini = BootIni.Parse(Server2003);
        var entry = ini.DefaultEntry!;
        entry.SetSwitch("HAL", "halaacpi.dll");
        entry.SetSwitch("KERNEL", "ntoskrnl.exe");
        entry.SetSwitch("NOEXECUTE", "AlwaysOff");
        entry.RemoveSwitch("PAE");
        var moved = entry.Arc!.WithRDisk(0).WithPartition(2);
        entry.Arc = moved;
        ini.Default = moved.ToString();
        ini.Timeout = 5;
        var expected = Server2003
            .Replace("timeout=30", "timeout=5")
            .Replace("default=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n", "default=multi(0)disk(0)rdisk(0)partition(2)\\WINDOWS\r\n")
            .Replace("multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=optout /fastdetect /PAE",
                     "multi(0)disk(0)rdisk(0)partition(2)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=AlwaysOff /fastdetect /HAL=halaacpi.dll /KERNEL=ntoskrnl.exe");
        Assert.Equal(expected, ini.ToString());
        Assert.Equal("halaacpi.dll", BootIni.Parse(expected).DefaultEntry!.GetSwitch("hal"));
    }

    [Fact]
    public void AddsEntriesAndLoaderKeysWhereTheyBelong()
    {
        var ini = BootIni.Parse("[operating systems]\r\nC:\\=\"DOS\"\r\n");
        ini.Timeout = 3;
        ini.AddOperatingSystem(new BootIniEntry(@"multi(0)disk(0)rdisk(0)partition(1)\WINDOWS", "Windows", ["/fastdetect"]));
        Assert.Equal("[boot loader]\r\ntimeout=3\r\n[operating systems]\r\nC:\\=\"DOS\"\r\nmulti(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows\" /fastdetect\r\n", ini.ToString());
    }
}
