using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// After our writes, the ntfs-3g FUSE driver mounts the volume read-write, reads every file back, and adds and
/// removes names in the directory whose B+ tree we built (its own index code walking and splitting our nodes);
/// then ntfsfix -n and ntfscat check what it left. Needs /dev/fuse and root, as the test machine has.
/// </summary>
public sealed class NtfsWriteMountedTests(NtfsWriteFixture fx) : IClassFixture<NtfsWriteFixture>
{
    private static void WithMount(string image, string mountPoint, Action<string> action) => Ntfs3gMount.With(image, mountPoint, action);

    [SkippableFact]
    public void Ntfs3gMountsReadsAndExtendsWhatWeWrote()
    {
        Requires.Fuse();
        var path = fx.Copy(nameof(Ntfs3gMountsReadsAndExtendsWhatWeWrote));
        var expected = new Dictionary<string, byte[]>(fx.Files);
        var random = new Random(11);
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            for (int i = 0; i < 150; i++)
            {
                var data = new byte[random.Next(0, 9000)];
                random.NextBytes(data);
                var name = $"/empty/created by p2v {i * 61 % 150:D3} with a name long enough to split.txt";
                volume.CreateFile(name, data);
                expected[name] = data;
            }
            var hal = new byte[123_456];
            random.NextBytes(hal);
            volume.ReplaceFile("/WINDOWS/system32/hal.dll", hal);
            expected["/WINDOWS/system32/hal.dll"] = hal;
        }

        var mountPoint = path + ".mnt";
        WithMount(path, mountPoint, mnt =>
        {
            foreach (var (name, data) in expected) Assert.True(data.AsSpan().SequenceEqual(File.ReadAllBytes(mnt + name)), name);
            Assert.Equal(150, Directory.GetFiles(mnt + "/empty").Length);
            // ntfs-3g inserts into and deletes from the tree we built.
            for (int i = 0; i < 60; i++) File.WriteAllBytes($"{mnt}/empty/added by ntfs-3g {i:D3}.bin", [(byte)i]);
            for (int i = 0; i < 150; i += 3)
            {
                var name = $"/empty/created by p2v {i:D3} with a name long enough to split.txt";
                var rm = ExternalTool.Try("rm", mnt + name);
                Assert.True(rm.ExitCode == 0, $"rm {name}: {rm.StdErr}");
                expected.Remove(name);
            }
        });
        for (int i = 0; i < 60; i++) expected[$"/empty/added by ntfs-3g {i:D3}.bin"] = [(byte)i];
        NtfsWriteFixture.AssertHealthy(path, expected);
        var listed = NtfsFixture.NtfsLsNames(path, "/empty", dos: false);
        Assert.True(expected.Keys.Count(k => k.StartsWith("/empty/")) == listed.Count, string.Join("\n", listed.Where(n => !expected.ContainsKey("/empty/" + n)).Take(10)));

        // And our reader agrees with what ntfs-3g left.
        using var readDisk = RawDisk.OpenRead(path);
        var reader = NtfsVolume.Open(readDisk);
        Assert.Equal(expected.Keys.Where(k => k.StartsWith("/empty/")).Select(k => k["/empty/".Length..]).OrderBy(n => n, StringComparer.OrdinalIgnoreCase),
            reader.ListDirectory("/empty").Select(e => e.Name));
    }
}
