using System.Data.Common;
using System.Security.Cryptography;
using System.Text.Json;
using P2V.Store;
using P2V.Controller.Api;
using P2V.Controller.Data;
using P2V.Controller.Devices;

namespace P2V.Controller.Jobs;

/// <summary>
/// The jobs table and the job's log and reports. Every state change is one conditional UPDATE (… WHERE state IN …),
/// so two controllers on one database can never both claim, complete or cancel the same job.
/// </summary>
public sealed class JobRepository(ControllerDatabase db, JobEvents events)
{
    private const string Columns = "id, device_mac, kind, steps, state, image, fixup, claimed_by, phase, bytes_done, bytes_total, "
        + "bytes_per_second, eta_seconds, message, error, created_at, claimed_at, started_at, finished_at, revision";
    private const string Active = "('queued', 'claimed', 'running')";

    /// <summary>A new queued job and its token. The device must exist.</summary>
    public async Task<(Job Job, string Token)> CreateAsync(string mac, JobKind kind, IReadOnlyList<string>? steps, string? image, JsonElement? fixup, CancellationToken cancel = default)
    {
        mac = MacAddress.Normalize(mac);
        if (kind is JobKind.Capture or JobKind.Deploy && string.IsNullOrWhiteSpace(image))
            throw new ArgumentException($"a {JobWords.Of(kind)} job needs the image it {(kind == JobKind.Capture ? "creates" : "deploys")}");
        if (kind == JobKind.Custom && (steps == null || steps.Count == 0))
            throw new ArgumentException("a custom job needs at least one step");
        if (image is not null && DiskImageNames.IsFurtherDisk(image))
            throw new ArgumentException($"image '{image}': a name ending in .diskN names a further disk of another image; choose another name");
        // A fix-up without its settings would fail only after the whole disk was written: refuse it now.
        if ((steps is { Count: > 0 } ? steps : JobWords.DefaultSteps(kind)).Contains("fixup"))
        {
            string? target = fixup is { ValueKind: JsonValueKind.Object } f && f.TryGetProperty("target", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (target is null) throw new ArgumentException("the job's fixup step needs fixup settings with a target (p2v job create --fixup-target)");
            try { P2V.Windows.TargetHypervisor.Parse(target); }
            catch (ArgumentException e) { throw new ArgumentException("fixup settings: " + e.Message); }
        }
        await using var c = await db.ConnectAsync(cancel);
        if (await c.ScalarAsync("SELECT 1 FROM devices WHERE mac = @mac", cancel, ("@mac", mac)) == null)
            throw new KeyNotFoundException($"no device {mac}");
        var token = NewToken();
        long now = Sql.Now();
        var id = Convert.ToInt64(await c.ScalarAsync("""
            INSERT INTO jobs (device_mac, kind, steps, state, image, fixup, token, created_at, updated_at)
            VALUES (@mac, @kind, @steps, 'queued', @image, @fixup, @token, @now, @now) RETURNING id
            """, cancel, ("@mac", mac), ("@kind", JobWords.Of(kind)),
            ("@steps", JsonSerializer.Serialize(steps is { Count: > 0 } ? steps : JobWords.DefaultSteps(kind), ControllerJson.Default.IReadOnlyListString)),
            ("@image", image), ("@fixup", fixup?.GetRawText()), ("@token", token), ("@now", now)));
        var job = (await GetAsync(c, id, cancel))!;
        events.Published(job);
        return (job, token);
    }

    public async Task<Job?> GetAsync(long id, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await GetAsync(c, id, cancel);
    }

    private static async Task<Job?> GetAsync(DbConnection c, long id, CancellationToken cancel) =>
        (await c.QueryAsync($"SELECT {Columns} FROM jobs WHERE id = @id", Read, cancel, ("@id", id))).FirstOrDefault();

    /// <summary>Newest first; filtered by device and/or state.</summary>
    public async Task<List<Job>> ListAsync(string? mac = null, JobState? state = null, bool activeOnly = false, int limit = 200, CancellationToken cancel = default)
    {
        var where = new List<string>();
        var args = new List<(string, object?)> { ("@limit", (long)limit) };
        if (mac != null) { where.Add("device_mac = @mac"); args.Add(("@mac", MacAddress.Normalize(mac))); }
        if (state is { } s) { where.Add("state = @state"); args.Add(("@state", JobWords.Of(s))); }
        if (activeOnly) where.Add($"state IN {Active}");
        await using var c = await db.ConnectAsync(cancel);
        return await c.QueryAsync($"SELECT {Columns} FROM jobs {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")} ORDER BY id DESC LIMIT @limit",
            Read, cancel, [.. args]);
    }

    /// <summary>The jobs changed since a revision stamp (the console's live view): active ones and those finished since.</summary>
    public async Task<List<Job>> ChangedSinceAsync(long updatedAfterMs, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await c.QueryAsync($"SELECT {Columns} FROM jobs WHERE updated_at >= @t OR state IN {Active} ORDER BY id", Read, cancel, ("@t", updatedAfterMs));
    }

    /// <summary>The job a token belongs to, or null.</summary>
    public async Task<Job?> FindByTokenAsync(string token, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return (await c.QueryAsync($"SELECT {Columns} FROM jobs WHERE token = @token", Read, cancel, ("@token", token))).FirstOrDefault();
    }

    public async Task<string?> TokenAsync(long id, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return (string?)await c.ScalarAsync("SELECT token FROM jobs WHERE id = @id", cancel, ("@id", id));
    }

    /// <summary>The device's oldest queued job, and its token.</summary>
    public async Task<(Job Job, string Token)?> NextQueuedAsync(string mac, long afterId = 0, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        var rows = await c.QueryAsync($"SELECT {Columns}, token FROM jobs WHERE device_mac = @mac AND state = 'queued' AND id > @after ORDER BY id LIMIT 1",
            r => (Read(r), r.GetString(20)), cancel, ("@mac", MacAddress.Normalize(mac)), ("@after", afterId));
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>Whether the device has a job that is not finished.</summary>
    public async Task<bool> HasActiveAsync(string mac, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await c.ScalarAsync($"SELECT 1 FROM jobs WHERE device_mac = @mac AND state IN {Active} LIMIT 1", cancel, ("@mac", MacAddress.Normalize(mac))) != null;
    }

    /// <summary>queued → claimed, once: true for exactly one caller, whichever controller it runs in.</summary>
    public Task<bool> ClaimAsync(long id, string claimer, CancellationToken cancel = default) =>
        ChangeAsync("UPDATE jobs SET state = 'claimed', claimed_by = @by, claimed_at = @now, updated_at = @now, revision = revision + 1 WHERE id = @id AND state = 'queued'",
            id, cancel, ("@by", claimer));

    /// <summary>The agent's progress; the first report moves claimed → running. False when the job is not claimed or running.</summary>
    public Task<bool> ReportProgressAsync(long id, JobProgress p, CancellationToken cancel = default) =>
        ChangeAsync("""
            UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, @now), phase = @phase, bytes_done = @done, bytes_total = @total,
                bytes_per_second = @rate, eta_seconds = @eta, message = @message, updated_at = @now, revision = revision + 1
            WHERE id = @id AND state IN ('claimed', 'running')
            """, id, cancel, ("@phase", p.Phase), ("@done", p.BytesDone), ("@total", p.BytesTotal), ("@rate", p.BytesPerSecond),
            ("@eta", p.EtaSeconds), ("@message", p.Message));

    /// <summary>Ends a claimed or running job. False when it had ended already.</summary>
    public Task<bool> CompleteAsync(long id, bool succeeded, string? error, CancellationToken cancel = default) =>
        ChangeAsync($"""
            UPDATE jobs SET state = @state, error = @error, finished_at = @now, updated_at = @now, revision = revision + 1
            WHERE id = @id AND state IN ('claimed', 'running')
            """, id, cancel, ("@state", succeeded ? "succeeded" : "failed"), ("@error", succeeded ? null : error ?? "failed without a reason"));

    /// <summary>A reset job is done the moment its device boots from its disk.</summary>
    public Task<bool> CompleteQueuedResetAsync(long id, CancellationToken cancel = default) =>
        ChangeAsync("UPDATE jobs SET state = 'succeeded', claimed_at = @now, started_at = @now, finished_at = @now, updated_at = @now, revision = revision + 1, "
            + "message = 'booted from local disk' WHERE id = @id AND state = 'queued' AND kind = 'reset'", id, cancel);

    public Task<bool> CancelAsync(long id, CancellationToken cancel = default) =>
        ChangeAsync($"UPDATE jobs SET state = 'cancelled', finished_at = @now, updated_at = @now, revision = revision + 1 WHERE id = @id AND state IN {Active}", id, cancel);

    /// <summary>
    /// One conditional UPDATE; the row as it left it (RETURNING, in the same statement) goes to the live views, so each
    /// revision is shown, not only the one a view happens to read next.
    /// </summary>
    private async Task<bool> ChangeAsync(string sql, long id, CancellationToken cancel, params (string, object?)[] more)
    {
        await using var c = await db.ConnectAsync(cancel);
        var changed = await c.QueryAsync($"{sql} RETURNING {Columns}", Read, cancel, [("@id", id), ("@now", Sql.Now()), .. more]);
        foreach (var job in changed) events.Published(job);
        return changed.Count > 0;
    }

    public async Task AppendLogAsync(long id, IEnumerable<string> lines, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        await using var tx = await c.BeginTransactionAsync(cancel);
        long now = Sql.Now();
        foreach (var line in lines)
        {
            await using var cmd = c.Command("INSERT INTO job_log (job_id, at, line) VALUES (@id, @at, @line)", ("@id", id), ("@at", now), ("@line", line));
            cmd.Transaction = tx;
            await cmd.ExecuteNonQueryAsync(cancel);
        }
        var touched = new List<Job>();
        await using (var touch = c.Command($"UPDATE jobs SET updated_at = @now, revision = revision + 1 WHERE id = @id RETURNING {Columns}", ("@id", id), ("@now", now)))
        {
            touch.Transaction = tx;
            await using var r = await touch.ExecuteReaderAsync(cancel);
            while (await r.ReadAsync(cancel)) touched.Add(Read(r));
        }
        await tx.CommitAsync(cancel);
        foreach (var job in touched) events.Published(job);
    }

    public async Task<List<JobLogLine>> LogAsync(long id, long afterLine = 0, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await c.QueryAsync("SELECT id, at, line FROM job_log WHERE job_id = @id AND id > @after ORDER BY id",
            r => new JobLogLine(r.GetInt64(0), Sql.Time(r.GetInt64(1)), r.GetString(2)), cancel, ("@id", id), ("@after", afterLine));
    }

    public async Task SaveReportAsync(long id, string name, string content, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        await c.ExecuteAsync("""
            INSERT INTO job_reports (job_id, name, content, at) VALUES (@id, @name, @content, @now)
            ON CONFLICT (job_id, name) DO UPDATE SET content = excluded.content, at = excluded.at
            """, cancel, ("@id", id), ("@name", name), ("@content", content), ("@now", Sql.Now()));
    }

    public async Task<List<JobReport>> ReportsAsync(long id, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await c.QueryAsync("SELECT name, content, at FROM job_reports WHERE job_id = @id ORDER BY name",
            r => new JobReport(r.GetString(0), r.GetString(1), Sql.Time(r.GetInt64(2))), cancel, ("@id", id));
    }

    /// <summary>256 random bits, URL-safe: what the boot script carries and the agent sends as its bearer token.</summary>
    private static string NewToken() => "job_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static Job Read(DbDataReader r) => new(
        Id: r.GetInt64(0),
        DeviceMac: r.GetString(1),
        Kind: JobWords.ParseKind(r.GetString(2)),
        Steps: JsonSerializer.Deserialize(r.GetString(3), ControllerJson.Default.IReadOnlyListString) ?? [],
        State: JobWords.ParseState(r.GetString(4)),
        Image: r.NullableString(5),
        Fixup: r.NullableString(6) is { } f ? JsonDocument.Parse(f).RootElement.Clone() : null,
        ClaimedBy: r.NullableString(7),
        Progress: new JobProgress(r.NullableString(8), r.GetInt64(9), r.GetInt64(10), r.GetDouble(11), r.NullableDouble(12), r.NullableString(13)),
        Error: r.NullableString(14),
        CreatedAt: Sql.Time(r.GetInt64(15)),
        ClaimedAt: r.NullableInt64(16) is { } a ? Sql.Time(a) : null,
        StartedAt: r.NullableInt64(17) is { } s ? Sql.Time(s) : null,
        FinishedAt: r.NullableInt64(18) is { } e ? Sql.Time(e) : null,
        Revision: r.GetInt64(19));
}
