using System.Net;
using P2V.Controller.Api;
using P2V.Controller.Jobs;

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
        finally { Directory.Delete(shared, true); }
    }
}

public sealed class SqliteTwoServersTests() : TwoServersTests(new SqliteDatabase());

[Collection("postgres")]
public sealed class PostgresTwoServersTests(PostgresServer server) : TwoServersTests(new PostgresDatabase(server));
