using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Tests.Fixups;

namespace P2V.Cli.Tests.Hostile;

/// <summary>
/// Generated hostile SYSTEM hives on a Windows Server 2003 disk (FixupFixture): each regf structure p2v reads gets the
/// mutations of <see cref="Mutation"/>, and `p2v gather`, `p2v fixup --dry-run` and `p2v fixup` must keep README.md's
/// promises: exit 0 or one line naming what is wrong; the dry run fails exactly when the run does; a run that fails
/// has written nothing (the disk's bytes are the same); a run that succeeds leaves a volume ntfsfix finds clean.
/// </summary>
public sealed class HiveMutationTests(FixupFixture fx) : IClassFixture<FixupFixture>
{
    private const string SystemHive = "/WINDOWS/system32/config/system";
    private static readonly string[] All = ["regf-base", "regf-hbin", "regf-root", "regf-nk", "regf-vk", "regf-list", "regf-sk"];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var structure in All)
            for (int i = 0; i < Mutation.PerStructure; i++) data.Add(structure, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MutatedSystemHiveKeepsThePromise(string structure, int index)
    {
        var random = Mutation.RandomFor(structure, index);
        var name = $"hive-{structure}-{Mutation.Seed}-{index}";
        var hive = fx.TempFile(name + ".system");
        File.WriteAllBytes(hive, fx.Files[SystemHive]);
        var what = Mutation.Apply(hive, HiveStructures.Of(fx.Files[SystemHive], random).Single(s => s.Name == structure), random);
        var disk = fx.CopyDisk(name);
        try
        {
            using (var d = RawDisk.OpenReadWrite(disk))
                NtfsVolume.Open(new DiskSlice(d, FixupFixture.PartitionOffset, d.Length - FixupFixture.PartitionOffset)).ReplaceFile(SystemHive, File.ReadAllBytes(hive));
            var before = Promise.Hash(disk);
            var inventory = fx.TempFile(name + ".xml");
            Promise.ExpectNewFile(what, inventory, P2vRun.Start("gather", "-o", inventory, "--disk", disk));
            Assert.True(before == Promise.Hash(disk), $"gather changed the disk: {what}");

            string[] fixup = ["fixup", "--target", "qemu", "--patches", fx.PatchLibrary];
            var dry = Promise.Expect(what, P2vRun.Start([.. fixup, "--dry-run", disk]));
            Assert.True(before == Promise.Hash(disk), $"the dry run changed the disk: {what}\n{dry.Describe()}");
            var run = Promise.Expect(what, P2vRun.Start([.. fixup, disk]));
            Assert.True(dry.ExitCode == run.ExitCode, $"the dry run said {dry.ExitCode}, the run {run.ExitCode}: {what}\n{dry.Describe()}\n{run.Describe()}");
            if (run.ExitCode != 0)
                Assert.True(before == Promise.Hash(disk), $"a failed fixup changed the disk: {what}\n{run.Describe()}");
            else
            {
                var volume = fx.ExtractVolume(disk);
                var check = ExternalTool.Try("ntfsfix", "-n", volume);
                Assert.True(check.ExitCode == 0, $"ntfsfix after the fixup: {what}\n{check.StdOut}{check.StdErr}");
            }
        }
        finally
        {
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(disk)!, name + "*")) File.Delete(f);
        }
    }
}
