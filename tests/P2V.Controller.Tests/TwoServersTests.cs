using System.Net;
using P2V.Controller.Api;
using P2V.Controller.Jobs;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;
using P2V.Store.Backends;

namespace P2V.Controller.Tests;

/// <summary>Two controllers, each with its own data folder, on one database: what one writes the other sees, and a job is claimed once.</summary>
public abstract class TwoServersTests(ITestDatabase database)
{
    private const string Mac = "52:54:00:00:00:42";

    [SkippableFact]
    public async Task Device_made_on_one_is_seen_on_the_other_and_a_job_is_claimed_once()
    {
        var shared = Directory.CreateTempSubdirectory("p2v-shared-").FullName;
        try
        {
            var db = database.NewDatabase(shared);
            await using var a = await TestController.StartAsync(database, sharedDatabase: db);
            await using var b = await TestController.StartAsync(database, sharedDatabase: db);
            await DevicesAndJobsAreSharedAsync(a, b);
        }
        finally { Directory.Delete(shared, true); }
    }

    /// <summary>One admin token for the pair; a device made on one is seen on the other; each job is claimed by one agent request of 16, across both servers.</summary>
    protected static async Task DevicesAndJobsAreSharedAsync(TestController a, TestController b)
    {
        // One admin token for the pair, written to each data folder.
        Assert.Equal(a.Server.AdminToken, b.Server.AdminToken);

        using var onA = a.Client();
        using var onB = b.Client();
        await onA.AddDeviceAsync(new DeviceRequest(Mac, "web01", Controlled: true));
        Assert.Equal("web01", (await onB.GetDeviceAsync(Mac)).Name);

        for (int round = 0; round < 5; round++)
        {
            var created = await onB.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, $"web01-{round}"));
            using var viaA = a.Http(created.Token);
            using var viaB = b.Http(created.Token);
            var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
            {
                using var r = await (i % 2 == 0 ? viaA : viaB).GetAsync("api/agent/job");
                return r.StatusCode;
            }));
            Assert.Equal(1, answers.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(15, answers.Count(s => s == HttpStatusCode.Conflict));
            var job = await onA.GetJobAsync(created.Job.Id);
            Assert.Equal(JobState.Claimed, job.State);
            Assert.True(job.ClaimedBy == a.Server.Options.InstanceName || job.ClaimedBy == b.Server.Options.InstanceName);
        }
    }
}

public sealed class SqliteTwoServersTests() : TwoServersTests(new SqliteDatabase());

/// <summary>
/// Two controllers on one PostgreSQL database; and, as `p2v server --db "Host=…" --store s3://BUCKET --s3-endpoint URL`
/// runs them, on one s3rver bucket too: an image captured into one is listed by and restored through the other.
/// </summary>
[Collection("postgres")]
public sealed class PostgresTwoServersTests(PostgresServer server, S3rver s3) : TwoServersTests(new PostgresDatabase(server)), IClassFixture<S3rver>
{
    [SkippableFact]
    public async Task Two_servers_on_one_database_and_one_s3_bucket_share_devices_jobs_and_images()
    {
        Skip.If(server.Unavailable != null, server.Unavailable);
        Skip.If(s3.Unavailable != null, s3.Unavailable);
        var bucket = s3.NewBucketName();
        using (var backend = new S3Backend(new S3Location(bucket, s3.Endpoint, S3rver.AccessKey, S3rver.SecretKey)))
            await backend.EnsureBucketAsync(CancellationToken.None);
        // `p2v server --store s3://…` takes the object store's keys from the environment, as an operator sets them.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", S3rver.AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", S3rver.SecretKey);

        var shared = Directory.CreateTempSubdirectory("p2v-shared-").FullName;
        try
        {
            var db = server.NewDatabase();
            await using var a = await TestController.StartAsync(new PostgresDatabase(server), sharedDatabase: db, store: $"s3://{bucket}", s3Endpoint: s3.Endpoint);
            await using var b = await TestController.StartAsync(new PostgresDatabase(server), sharedDatabase: db, store: $"s3://{bucket}", s3Endpoint: s3.Endpoint);
            await DevicesAndJobsAreSharedAsync(a, b);

            // A disk with data that compresses, data that does not, and zeros between, captured into A.
            var disk = Path.Combine(shared, "disk.img");
            var bytes = new byte[24 << 20];
            var rng = new Random(5);
            rng.NextBytes(bytes.AsSpan(0, 6 << 20));
            for (int i = 10 << 20; i < 16 << 20; i++) bytes[i] = (byte)"server config registry\r\n"[i % 24];
            File.WriteAllBytes(disk, bytes);
            using var storeA = new StoreClient(new Uri(a.Url), a.Server.AdminToken);
            using (var source = VirtualDisk.Open(disk))
            {
                var plan = CapturePlanner.Plan(source, sourceDescription: "two servers", toolVersion: "test");
                using var sink = await StoreCaptureSink.OpenAsync(storeA, "web01-disk", plan.Header, CancellationToken.None);
                await new CapturePipeline().RunAsync(source, plan, sink);
            }

            // Listed by B (committed images only), and restored through B: the same bytes (cmp).
            using var storeB = new StoreClient(new Uri(b.Url), b.Server.AdminToken);
            Assert.Equal(["web01-disk"], (await storeB.ListAsync(CancellationToken.None)).Select(i => i.Name));
            var restored = Path.Combine(shared, "restored.img");
            var image = await StoreImageSource.OpenAsync(storeB, "web01-disk", CancellationToken.None, checkRecordedForms: true);
            using (var target = RawDisk.Create(restored, image.Header.DiskLength, image.Header.SectorSize))
                await new RestorePipeline { TargetIsBlank = true }.RunAsync(image, target);
            Assert.Equal(0, ExternalTool.Try("cmp", disk, restored).ExitCode);

            // Removed through B: gone on A too.
            await storeB.DeleteAsync("web01-disk", CancellationToken.None);
            await Assert.ThrowsAsync<ImageNotFoundException>(() => storeA.GetManifestAsync("web01-disk", CancellationToken.None));
        }
        finally { Directory.Delete(shared, true); }
    }
}
