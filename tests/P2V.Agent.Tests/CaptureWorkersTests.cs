namespace P2V.Agent.Tests;

public sealed class CaptureWorkersTests
{
    private const long MiB = 1L << 20;

    [Theory]
    [InlineData(0L, 4, 4)]                 // no /proc/meminfo: one per core
    [InlineData(20 * MiB, 4, 1)]           // a boot image at low memory: one, never none
    [InlineData(64 * MiB, 8, 2)]           // 8 MiB of in-flight chunks: two workers' windows
    [InlineData(256 * MiB, 32, 8)]         // a many-core server with little free: not 32 windows
    [InlineData(20_000 * MiB, 2, 2)]       // plenty: one per core
    public void Workers_follow_the_cores_within_an_eighth_of_the_memory_free(long available, int cores, int expected) =>
        Assert.Equal(expected, JobContext.CaptureWorkers(available, cores));
}
