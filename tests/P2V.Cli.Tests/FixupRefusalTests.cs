using System.Buffers.Binary;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

using P2V.Windows.Tests.Fixups;

namespace P2V.Cli.Tests;

/// <summary>
/// `p2v fixup` where the real run could stop halfway: the dry run fails exactly when the run would, and a run that
/// fails has written nothing. Dirty hives without logs need --force, and are left clean. Checked with ntfs-3g and hivex.
/// </summary>
public sealed class FixupRefusalTests(FixupFixture fx) : IClassFixture<FixupFixture>
{
    private const string SystemHive = "/WINDOWS/system32/config/system";

    private static ExternalTool.Result P2v(params string[] args) =>
        ExternalTool.RunWith("dotnet", [Path.Combine(AppContext.BaseDirectory, "p2v.dll"), .. args], stdin: null, check: false);

    private string[] Fixup(string disk, params string[] more) => ["fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary, .. more];

    private static string Sha(string path) => ExternalTool.Run("sha256sum", path).Split(' ')[0];

    /// <summary>The SYSTEM hive as Windows leaves it when copied while running: primary sequence one ahead of the secondary.</summary>
    private byte[] DirtyHive()
    {
        var b = (byte[])fx.Files[SystemHive].Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8)) + 1);
        uint x = 0;
        for (int i = 0; i < 508; i += 4) x ^= BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(i));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(508), x);
        return b;
    }

    [Fact]
    public void ADirtyHiveWithoutLogsNeedsForceAndIsLeftClean()
    {
        var disk = fx.CopyDisk("dirty-hive");
        using (var d = RawDisk.OpenReadWrite(disk))
            NtfsVolume.Open(new DiskSlice(d, FixupFixture.PartitionOffset, d.Length - FixupFixture.PartitionOffset)).ReplaceFile(SystemHive, DirtyHive());
        var before = Sha(disk);

        foreach (var dry in new[] { true, false })
        {
            var refused = P2v(Fixup(disk, dry ? ["--dry-run"] : []));
            Assert.True(refused.ExitCode != 0, refused.StdOut + refused.StdErr);
            var line = Assert.Single(refused.StdErr.Trim().Split('\n'));
            Assert.Contains("dirty", line);
            Assert.Contains("--force", line);
            Assert.Equal(before, Sha(disk));
        }

        var report = disk + ".json";
        var forced = P2v(Fixup(disk, "--force", "-o", report));
        Assert.True(forced.ExitCode == 0, forced.StdOut + forced.StdErr);
        Assert.Contains("was dirty (its sequence numbers differ) with no transaction log", forced.StdOut);
        Assert.Contains("was dirty (its sequence numbers differ) with no transaction log", File.ReadAllText(report));

        var volume = fx.ExtractVolume(disk);
        var hive = disk + ".system";
        File.WriteAllBytes(hive, ExternalTool.RunBytes("ntfscat", volume, SystemHive));
        var written = File.ReadAllBytes(hive);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(4)), BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(8)));
        Assert.Equal("intelide", ExternalTool.Run("hivexget", hive, @"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7010", "Service").Trim());
        Assert.Equal("SRV-DB01", ExternalTool.Run("hivexget", hive, @"\ControlSet001\Control\ComputerName\ComputerName", "ComputerName").Trim());
        Assert.Equal(0, ExternalTool.Try("ntfsfix", "-n", volume).ExitCode);
    }

    /// <summary>
    /// A SYSTEM hive whose file ends in a hole (sparse), or in so many holes that its runlist needs an $ATTRIBUTE_LIST.
    /// Whether the NTFS writer can replace such a file or not, the dry run says what the run does; a run that cannot
    /// writes nothing at all (not the boot sector, which comes first).
    /// </summary>
    [Theory]
    [InlineData("sparse", 1)]
    [InlineData("attribute-list", 1200)]
    public void DryRunFailsExactlyWhenTheRunWould(string kind, int holes)
    {
        var disk = fx.VariantDisk("hive-" + kind, tree =>
        {
            using var f = File.OpenWrite(Path.Combine(tree, SystemHive.TrimStart('/')));
            long end = f.Length;
            var data = new byte[4096];
            new Random(7).NextBytes(data);
            for (int i = 0; i < holes; i++)
            {
                f.Position = end + (2L * i + 1) * data.Length;
                f.Write(data);
            }
            f.SetLength(f.Position + data.Length);
        });
        var info = ExternalTool.Run("ntfsinfo", "-F", SystemHive, fx.ExtractVolume(disk));
        Assert.Contains("SPARSE", info, StringComparison.OrdinalIgnoreCase);
        if (holes > 1) Assert.Contains("$ATTRIBUTE_LIST", info);
        var before = Sha(disk);

        var dry = P2v(Fixup(disk, "--dry-run"));
        Assert.Equal(before, Sha(disk));
        var run = P2v(Fixup(disk));
        Assert.True((dry.ExitCode == 0) == (run.ExitCode == 0), $"dry run exit {dry.ExitCode}, run exit {run.ExitCode}\n{dry.StdOut}{dry.StdErr}\n{run.StdOut}{run.StdErr}");
        if (run.ExitCode != 0)
        {
            // Refused while planning, with the reason, and not one byte written.
            Assert.Contains("registry step cannot be carried out", dry.StdOut);
            Assert.Contains(holes > 1 ? "$ATTRIBUTE_LIST" : "sparse", dry.StdOut);
            Assert.Contains("the fix-up was not started", run.StdErr);
            Assert.Equal(before, Sha(disk));
            return;
        }
        var hive = disk + ".system";
        var volume = fx.ExtractVolume(disk);
        File.WriteAllBytes(hive, ExternalTool.RunBytes("ntfscat", volume, SystemHive));
        Assert.Equal("intelide", ExternalTool.Run("hivexget", hive, @"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7010", "Service").Trim());
        Assert.Equal(0, ExternalTool.Try("ntfsfix", "-n", volume).ExitCode);
    }
}
