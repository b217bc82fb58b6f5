using P2V.Windows.Pe;

namespace P2V.Windows.Tests.Pe;

public class VersionInfoTests
{
    [Theory]
    [InlineData("hal.dll", "halmacpi.dll", "5.2.3790.4354", false)]
    [InlineData("hal.dll", "halacpi.dll", "5.1.2600.5512", false)]
    [InlineData("ntoskrnl.exe", "ntkrnlmp.exe", "5.2.3790.4354", false)]
    [InlineData("hal64.dll", "halmacpi.dll", "5.2.3790.3959", true)]
    public void ReadsVersionResourceOfPe32AndPe32Plus(string file, string original, string version, bool pe32Plus)
    {
        using var tmp = new TempDirectory();
        var path = PeFixtures.Build(tmp.Path, file, original, version, pe32Plus);
        var image = PeImage.Open(path);
        Assert.Equal(pe32Plus, image.IsPe32Plus);
        Assert.Equal(pe32Plus ? PeMachine.Amd64 : PeMachine.I386, image.Machine);
        Assert.Equal(!file.EndsWith(".exe"), image.IsDll);
        var info = image.ReadVersionInfo()!;
        Assert.Equal(original, info.OriginalFilename);
        Assert.Equal(Version.Parse(version), info.FileVersion);
        Assert.Equal(Version.Parse(version), info.ProductVersion);
        Assert.Equal(Version.Parse(version).Build, info.Build);
        Assert.Equal("Microsoft Corporation", info.CompanyName);
        Assert.Equal("Microsoft(R) Windows(R) Operating System", info.ProductName);
        Assert.StartsWith(version + " (", info.FileVersionText);
    }

    [Fact]
    public void FileWithoutResourcesHasNoVersionInfo()
    {
        using var tmp = new TempDirectory();
        var c = tmp.File("x.c");
        File.WriteAllText(c, "int main(void){return 0;}\n");
        ExternalTool.Run("i686-w64-mingw32-gcc", "-s", "-o", tmp.File("x.exe"), c);
        Assert.Null(PeImage.Open(tmp.File("x.exe")).ReadVersionInfo());
    }

    [Fact]
    public void DamagedFilesGivePreciseErrors()
    {
        using var tmp = new TempDirectory();
        var path = PeFixtures.Build(tmp.Path, "hal.dll", "halaacpi.dll", "5.1.2600.2180");
        var good = File.ReadAllBytes(path);
        var noMz = (byte[])good.Clone();
        noMz[0] = 0;
        Assert.Contains("MZ", Assert.Throws<PeFormatException>(() => PeImage.Parse(noMz)).Message);
        var badLfanew = (byte[])good.Clone();
        BitConverter.GetBytes(0x7FFFFFF0).CopyTo(badLfanew, 0x3C);
        Assert.Equal(0x3C, Assert.Throws<PeFormatException>(() => PeImage.Parse(badLfanew)).Offset);
        var rnd = new Random(3);
        for (int i = 0; i < 300; i++)
        {
            var b = (byte[])good.Clone();
            for (int j = 0; j < 4; j++) b[rnd.Next(b.Length)] = (byte)rnd.Next(256);
            try { PeImage.Parse(b).ReadVersionInfo(); }
            catch (PeFormatException) { }
        }
    }
}
