using P2V.Controller.Jobs;
using P2V.Migration.Reporting;
using P2V.Store;

namespace P2V.Controller.Client;

/// <summary>
/// The controller's part of `p2v report`: the VM's jobs (each phase's times), the fix-up report of its deploy job
/// (the agent's report "fixup"), and from the store each image of the migration with its size, dedup savings and
/// every volume's used-cluster check, read from the image's manifest (the capture records it in its trailer).
/// </summary>
public static class MigrationHistory
{
    public static async Task<MigrationReport> AddAsync(MigrationReport report, ControllerClient controller, IImageStore? store, string mac, string controllerUrl,
        CancellationToken cancel = default)
    {
        var notes = new List<string>(report.Notes);
        var jobs = (await controller.ListJobsAsync(mac, cancel: cancel)).OrderBy(j => j.Id).ToList();
        if (jobs.Count == 0) notes.Add($"controller: device {mac} has no job");

        var phases = new List<ReportPhase>(report.Phases);
        foreach (var j in jobs)
            phases.Add(new ReportPhase($"{JobWords.Of(j.Kind)}{(j.Image is { } i ? " " + i : "")}", JobWords.Of(j.State) + (j.Error is { } e ? ": " + e : ""),
                j.StartedAt ?? j.ClaimedAt ?? (j.Kind == JobKind.Reset ? j.CreatedAt : null), j.FinishedAt, $"controller job {j.Id}"));

        var fixups = new List<ReportFixup>(report.Fixups);
        foreach (var j in jobs.Where(j => j.Kind == JobKind.Deploy))
            foreach (var r in (await controller.ReportsAsync(j.Id, cancel)).Where(r => r.Name == "fixup"))
            {
                try { fixups.Add(ReportFolder.Fixup(r.Content, $"deploy job {j.Id} (controller)", $"{report.Name}-job{j.Id}-fixup.json")); }
                catch (InvalidDataException e) { notes.Add(e.Message); }
            }

        var images = new List<ReportImage>();
        var volumes = new List<ReportVolume>();
        var named = jobs.Where(j => j.Kind is JobKind.Capture or JobKind.Deploy && j.Image != null).Select(j => j.Image!).Distinct().ToList();
        if (store != null && named.Count > 0)
        {
            IReadOnlyList<ImageSummary> all;
            try { all = await store.ListAsync(cancel); }
            catch (IOException e) { notes.Add($"store: {e.Message}"); all = []; }
            foreach (var image in all.Where(i => named.Any(n => DiskImageNames.BelongsTo(i.Name, n))).OrderBy(i => i.Name, StringComparer.Ordinal))
            {
                images.Add(new ReportImage(image.Name, image.DiskBytes, image.StoredBytes, image.UniqueBytes, image.DedupSavings));
                var manifest = await store.GetManifestAsync(image.Name, cancel);
                foreach (var v in manifest.Trailer.Volumes)
                {
                    var record = manifest.Header.Volumes.FirstOrDefault(r => r.Index == v.VolumeIndex);
                    volumes.Add(new ReportVolume(image.Name, v.VolumeIndex, record?.Kind.ToString() ?? "?", record?.Label ?? "",
                        v.DeclaredUsedBytes, v.BytesRead, v.BytesCaptured, v.ZeroBytesSkipped));
                }
            }
            if (images.Count == 0) notes.Add($"store: none of the images {string.Join(", ", named)} is in the store (dropped by p2v cleanup --drop-images?)");
        }

        return report with
        {
            Controller = controllerUrl,
            Phases = phases,
            Fixups = fixups,
            Installed = [.. fixups.SelectMany(ReportFolder.Installed)],
            Images = images,
            Volumes = volumes,
            Notes = notes,
        };
    }
}
