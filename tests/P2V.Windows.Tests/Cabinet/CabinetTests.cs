using System.Text;
using P2V.Windows.Cabinet;
using P2V.Windows.Pe;
using P2V.Windows.Tests.Pe;

namespace P2V.Windows.Tests.Cabinet;

/// <summary>Cabinets made by gcab (MSZIP with -z, stored without); every extracted file compared with cabextract's.</summary>
public class CabinetTests
{
    private static List<string> MakeFiles(TempDirectory tmp)
    {
        var dir = tmp.File("in");
        Directory.CreateDirectory(dir);
        var rnd = new Random(7);
        var files = new List<string>();
        void Add(string name, byte[] data)
        {
            var p = Path.Combine(dir, name);
            File.WriteAllBytes(p, data);
            files.Add(p);
        }
        var noise = new byte[100_000];
        rnd.NextBytes(noise);
        Add("noise.bin", noise);
        // Text repeating with long periods: back-references cross the 32 KiB CFDATA blocks.
        var sb = new StringBuilder();
        for (int i = 0; i < 30_000; i++) sb.Append("line ").Append(i % 977).Append(" of the setup log\r\n");
        Add("setup.log", Encoding.ASCII.GetBytes(sb.ToString()));
        Add("empty.txt", []);
        Add("zeros.dat", new byte[70_000]);
        files.Add(PeFixtures.Build(dir, "halmacpi.dll", "halmacpi.dll", "5.2.3790.3959"));
        files.Add(PeFixtures.Build(dir, "ntkrnlmp.exe", "ntkrnlmp.exe", "5.2.3790.3959"));
        return files;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ExtractsWhatCabextractExtracts(bool mszip)
    {
        using var tmp = new TempDirectory();
        var files = MakeFiles(tmp);
        var cab = tmp.File("driver.cab");
        ExternalTool.Run("gcab", [.. (mszip ? new[] { "-c", "-z", "-n", cab } : ["-c", "-n", cab]), .. files]);
        var outDir = tmp.File("out");
        ExternalTool.Run("cabextract", "-q", "-d", outDir, cab);

        using var archive = CabinetArchive.Open(cab);
        Assert.Equal(files.Select(Path.GetFileName).Order(), archive.Files.Select(f => f.Name).Order());
        foreach (var f in archive.Files)
        {
            Assert.Equal(mszip ? CabinetCompression.MsZip : CabinetCompression.None, archive.FolderCompression(f));
            Assert.Equal(File.ReadAllBytes(Path.Combine(outDir, f.Name)), archive.Extract(f));
        }
        var hal = archive.Extract("HALMACPI.DLL");
        Assert.Equal("halmacpi.dll", PeImage.Parse(hal).ReadVersionInfo()!.OriginalFilename);
    }

    [Fact]
    public void LzxAndQuantumFoldersAreRefusedByName()
    {
        using var tmp = new TempDirectory();
        var files = MakeFiles(tmp);
        var cab = tmp.File("sp2.cab");
        ExternalTool.Run("gcab", ["-c", "-z", "-n", cab, .. files]);
        var bytes = File.ReadAllBytes(cab);
        // CFFOLDER follows the 36-byte CFHEADER; typeCompress is its last field. 0x1503 = LZX with a 21-bit window.
        BitConverter.GetBytes((ushort)0x1503).CopyTo(bytes, 36 + 6);
        using var lzx = CabinetArchive.Open(new MemoryStream(bytes), "sp2.cab");
        Assert.Contains("Lzx-compressed", Assert.Throws<NotSupportedException>(() => lzx.Extract("noise.bin")).Message);
        BitConverter.GetBytes((ushort)0x0F02).CopyTo(bytes, 36 + 6);
        using var quantum = CabinetArchive.Open(new MemoryStream(bytes), "sp2.cab");
        Assert.Contains("Quantum", Assert.Throws<NotSupportedException>(() => quantum.Extract("noise.bin")).Message);
    }

    [Fact]
    public void DamagedCabinetsGivePreciseErrors()
    {
        using var tmp = new TempDirectory();
        var files = MakeFiles(tmp);
        var cab = tmp.File("d.cab");
        ExternalTool.Run("gcab", ["-c", "-z", "-n", cab, .. files]);
        var good = File.ReadAllBytes(cab);
        var bad = (byte[])good.Clone();
        bad[0] = (byte)'X';
        Assert.Equal(0, Assert.Throws<CabinetException>(() => CabinetArchive.Open(new MemoryStream(bad), "d.cab")).Offset);
        var rnd = new Random(9);
        int caught = 0;
        for (int i = 0; i < 200; i++)
        {
            var b = (byte[])good.Clone();
            for (int j = 0; j < 3; j++) b[rnd.Next(b.Length)] = (byte)rnd.Next(256);
            try
            {
                using var a = CabinetArchive.Open(new MemoryStream(b), "d.cab");
                foreach (var f in a.Files) a.Extract(f);
            }
            catch (CabinetException) { caught++; }
            catch (NotSupportedException) { }
        }
        Assert.True(caught > 0);
    }
}
