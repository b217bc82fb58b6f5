using System.Globalization;
using System.Net;
using System.Text;

namespace P2V.Migration.Reporting;

/// <summary>
/// The report as one self-contained HTML page: inline style, no script, no external asset (it is read where the
/// migration happened, often offline). Everything from the source (names, labels, the configuration, the fix-up's
/// descriptions) is HTML-escaped; the fix-up report itself rides along as a data: link to download for --undo.
/// </summary>
public static class ReportHtml
{
    public static string Write(MigrationReport r)
    {
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        h.Append($"<title>P2V migration report: {E(r.Name)}</title>\n<style>{Style}</style></head>\n<body>\n");
        h.Append($"<h1>Migration report: <span id=\"vm-name\">{E(r.Name)}</span></h1>\n");
        h.Append($"<p class=\"meta\">Folder {E(r.Folder)}; generated {T(r.Generated)}{(r.Controller is { } c ? "; history from controller " + E(c) : "; no controller (files only)")}</p>\n");
        if (r.Notes.Count > 0) List(h, "notes", "Not read", r.Notes);

        h.Append("<section id=\"source\"><h2>Source</h2>\n");
        if (r.Source is { } s)
        {
            Table(h, null, ["", ""], [
                ["Computer", s.Computer ?? "–"], ["Windows", s.Windows ?? "–"], ["System", s.System], ["Processors", s.Processors],
                ["Memory", Bytes(s.MemoryBytes)], ["Gathered", T(s.Gathered)]], header: false);
            Table(h, "source-disks", ["Disk", "Size", "Bus", "Model", "Partitions"],
                s.Disks.Select(d => new[] { d.Name, Bytes(d.SizeBytes), d.Bus, d.Model, string.Join("\n", d.Partitions) }));
            Table(h, "source-nics", ["Adapter", "MAC", "Driver"], s.Nics.Select(n => new[] { n.Name, n.Mac, n.Driver }));
        }
        else h.Append("<p>No inventory.</p>\n");
        h.Append("</section>\n");

        h.Append("<section id=\"findings\"><h2>Validation</h2>\n");
        if (r.Findings.Count == 0) h.Append("<p>No findings.</p>\n");
        else Table(h, null, ["Rule", "Severity", "Subject", "Finding", "Fix"], r.Findings.Select(f => new[] { f.Rule, f.Severity, f.Subject, f.Message, f.Fix }),
            rowClass: i => r.Findings[i].Severity);
        h.Append("</section>\n");

        var t = r.Target;
        h.Append("<section id=\"target\"><h2>Target VM</h2>\n");
        Table(h, null, ["", ""], [
            ["Hypervisor", t.Hypervisor], ["Memory", $"{t.MemoryMB} MB"], ["vCPUs", t.Vcpus.ToString(CultureInfo.InvariantCulture)], ["HAL", t.Hal],
            ["Disks", string.Join("\n", t.Disks)], ["Network adapters", string.Join("\n", t.Nics)], ["Boot floppy", t.Floppy], ["Configuration", t.ConfigFile]], header: false);
        if (t.Configuration is { } config) h.Append($"<details><summary>Configuration file</summary><pre id=\"configuration\">{E(config)}</pre></details>\n");
        h.Append("</section>\n");

        h.Append("<section id=\"capture\"><h2>Capture</h2>\n");
        if (r.Volumes.Count == 0) h.Append("<p>No volume checks (the images' manifests were not read: give --controller).</p>\n");
        else Table(h, "volumes", ["Image", "Volume", "File system", "Label", "Declared used", "Read", "Captured", "Zero skipped", "Check"],
            r.Volumes.Select(v => new[] { v.Image, v.Index.ToString(CultureInfo.InvariantCulture), v.Kind, v.Label, Bytes(v.DeclaredUsedBytes), Bytes(v.BytesRead),
                Bytes(v.BytesCaptured), Bytes(v.ZeroBytesSkipped), v.Consistent ? "ok" : "MISMATCH" }), rowClass: i => r.Volumes[i].Consistent ? "ok" : "error");
        if (r.Images.Count > 0)
            Table(h, "images", ["Image", "Disk", "Stored", "Only its own", "Dedup savings"],
                r.Images.Select(i => new[] { i.Name, Bytes(i.DiskBytes), Bytes(i.StoredBytes), Bytes(i.UniqueBytes), (100 * i.DedupSavings).ToString("0.0", CultureInfo.InvariantCulture) + " %" }));
        h.Append("</section>\n");

        h.Append("<section id=\"fixup\"><h2>Fix-up</h2>\n");
        if (r.Fixups.Count == 0) h.Append("<p>No fix-up report.</p>\n");
        foreach (var f in r.Fixups)
        {
            h.Append($"<h3>{E(f.Origin)}</h3>\n");
            Table(h, null, ["", ""], [
                ["Target", $"{f.Target}, {f.Vcpus} vCPU(s){(f.DryRun ? " (dry run)" : "")}"], ["Windows", f.Windows ?? "–"], ["HAL", f.Hal ?? "–"], ["Kernel", f.Kernel ?? "–"],
                ["State", f.Complete ? "complete" : "NOT complete"], ["Started", f.Started.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z"],
                ["Finished", f.Finished?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z"], ["Undo", f.UndoCommand]], header: false);
            h.Append($"<p><a class=\"undo\" download=\"{E(Path.GetFileName(f.UndoFile))}\" href=\"data:application/json;base64,{Convert.ToBase64String(Encoding.UTF8.GetBytes(f.ReportJson))}\">"
                + $"Download the undo file ({E(Path.GetFileName(f.UndoFile))})</a></p>\n");
            List(h, null, "Plan", f.Plan);
            List(h, null, $"Changes ({f.Changes.Count})", f.Changes);
            if (f.Warnings.Count > 0) List(h, null, "Warnings", f.Warnings);
            if (f.Errors.Count > 0) List(h, null, "Errors", f.Errors);
        }
        h.Append("</section>\n");

        h.Append("<section id=\"installed\"><h2>Drivers and first-boot actions</h2>\n");
        if (r.Installed.Count == 0) h.Append("<p>None installed.</p>\n");
        else Table(h, null, ["Kind", "What", "Detail"], r.Installed.Select(i => new[] { i.Kind, i.Name, i.Detail }));
        h.Append("</section>\n");

        h.Append("<section id=\"phases\"><h2>Phases</h2>\n");
        Table(h, "phase-times", ["Phase", "State", "Started", "Finished", "Time", "From"], r.Phases.Select(p => new[]
            { p.Name, p.State, p.Started is { } a ? T(a) : "", p.Finished is { } b ? T(b) : "", p.Seconds is { } sec ? Duration(sec) : "", p.Origin }));
        h.Append("</section>\n</body></html>\n");
        return h.ToString();
    }

    private const string Style = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}"
        + "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top;white-space:pre-line}"
        + "th{background:#f3f3f3}.meta{color:#666}tr.error td{background:#fde2e2}tr.warning td{background:#fff4d6}tr.ok td:last-child{color:#070}"
        + "pre{background:#f6f6f6;padding:.8em;overflow:auto;white-space:pre}";

    private static void Table(StringBuilder h, string? id, string[] columns, IEnumerable<string[]> rows, bool header = true, Func<int, string>? rowClass = null)
    {
        h.Append(id is null ? "<table>" : $"<table id=\"{id}\">");
        if (header) h.Append("<tr>").AppendJoin("", columns.Select(c => $"<th>{E(c)}</th>")).Append("</tr>");
        int i = 0;
        foreach (var row in rows)
        {
            h.Append(rowClass is null ? "<tr>" : $"<tr class=\"{E(rowClass(i))}\">");
            for (int c = 0; c < row.Length; c++) h.Append(!header && c == 0 ? $"<th>{E(row[c])}</th>" : $"<td>{E(row[c])}</td>");
            h.Append("</tr>\n");
            i++;
        }
        h.Append("</table>\n");
    }

    private static void List(StringBuilder h, string? id, string title, IReadOnlyList<string> items)
    {
        h.Append(id is null ? "<div>" : $"<div id=\"{id}\">").Append($"<h4>{E(title)}</h4><ul>");
        foreach (var item in items) h.Append($"<li>{E(item)}</li>");
        h.Append("</ul></div>\n");
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");
    private static string T(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z";

    private static string Duration(double seconds) => TimeSpan.FromSeconds(Math.Max(0, seconds)) is var d && d.TotalHours >= 1
        ? $"{(int)d.TotalHours}h {d.Minutes:00}m {d.Seconds:00}s" : d.TotalMinutes >= 1 ? $"{d.Minutes}m {d.Seconds:00}s" : string.Create(CultureInfo.InvariantCulture, $"{seconds:0.0}s");

    /// <summary>Binary units as the rest of p2v prints them, with the exact byte count for the volume checks.</summary>
    private static string Bytes(long n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{n} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0} {units[u]} ({n:N0} bytes)");
    }
}
