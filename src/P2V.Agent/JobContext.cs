using P2V.Migration.Inventory;

namespace P2V.Agent;

/// <summary>What a job's steps share: the job and its token, the controller, the log, where sysfs and /dev are, and what earlier steps found.</summary>
internal sealed class JobContext(AgentJob job, ControllerClient controller, string token, AgentLog log, string root)
{
    public AgentJob Job => job;
    public ControllerClient Controller => controller;
    public string Token => token;
    public AgentLog Log => log;
    public string Root => root;
    public string DeviceFolder => root == "/" ? "/dev" : Path.Combine(root, "dev");

    /// <summary>The inventory the gather step sent (the capture describes its images with it).</summary>
    public SourceInventory? Inventory { get; set; }
    public string InventoryXml { get; set; } = "";

    /// <summary>The machine's local disks in the kernel's order (sda, sdb …), removable ones (USB sticks, CD-ROMs) left out.</summary>
    public IReadOnlyList<string> LocalDisks()
    {
        var disks = new HardwareGatherer(new SysfsTree(root)).Disks()
            .Where(d => !d.Removable && d.SizeBytes > 0)
            .OrderBy(d => d.Name.Length).ThenBy(d => d.Name, StringComparer.Ordinal)
            .Select(d => Path.Combine(DeviceFolder, d.Name)).ToList();
        return disks.Count > 0 ? disks : throw new IOException("the machine shows no local disk (no driver for its disk controller?)");
    }

    /// <summary>The job's image store, reached with the job's token (its images: <see cref="P2V.Store.DiskImageNames"/>).</summary>
    public P2V.Store.StoreClient OpenStore()
    {
        if (job.Image is null) throw new InvalidDataException($"the {job.Kind} job names no image");
        if (!Uri.TryCreate(job.Store, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new InvalidDataException($"the job's image store '{job.Store}' is not an http URL");
        return new P2V.Store.StoreClient(url, token);
    }

    /// <summary>
    /// The bytes a deploy's store transfer may hold per batch (two are in memory at once, each also decoded): a
    /// sixteenth of the memory free, so that the batches take a quarter of it as a capture's buffers do
    /// (<see cref="Agent.CaptureShape"/>), at least 1 MiB, at most <paramref name="most"/>.
    /// </summary>
    public long TransferBatchBytes(long most)
    {
        long free = MemoryFree();
        return free <= 0 ? most : Math.Clamp(free / 16, Math.Min(1L << 20, most), most);
    }

    /// <summary>The capture's workers and buffers for the memory free on this machine now.</summary>
    public CaptureShape CaptureShape() => Agent.CaptureShape.For(MemoryFree(), Environment.ProcessorCount);

    /// <summary>
    /// MemAvailable after a compacting collection: the previous disk's or step's buffers (store batches, the sink's
    /// pool) are garbage by now, and a transfer sized while they still hold memory would be sized too small and hold both.
    /// </summary>
    private long MemoryFree()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return new HardwareGatherer(new SysfsTree(root)).MemoryAvailableBytes();
    }

    /// <summary>The block devices the deploy step wrote, in disk order (the fix-up works on the first).</summary>
    public List<string> DeployedDisks { get; } = [];

    /// <summary>How long a transfer keeps being started again after the store or the network failed under it: as long as the controller's own requests (the store lives in the controller, so its restart is a pause, not a failure).</summary>
    public TimeSpan TransferPatience { get; init; } = ControllerClient.DefaultPatience;

    /// <summary>
    /// Runs a transfer again when the network or the server failed under it (a restart of the controller or store):
    /// the store keeps the chunks it has, so a repeated capture sends only what is still missing.
    /// </summary>
    public async Task<T> RetryAsync<T>(string what, Func<Task<T>> transfer, CancellationToken cancel)
    {
        var wait = TimeSpan.FromSeconds(2);
        var giveUp = DateTime.UtcNow + TransferPatience;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await transfer();
            }
            catch (Exception e) when (DateTime.UtcNow + wait < giveUp && !cancel.IsCancellationRequested && IsTransient(e))
            {
                log.Write($"{what}: {e.Message}; starting again in {wait.TotalSeconds:0} s (attempt {attempt + 1})");
                await Task.Delay(wait, cancel);
                wait = TimeSpan.FromSeconds(Math.Min(wait.TotalSeconds * 2, 30));
            }
        }
    }

    private static bool IsTransient(Exception e) => e is P2V.Store.StoreConnectionException or HttpRequestException { StatusCode: null or >= System.Net.HttpStatusCode.InternalServerError } or TaskCanceledException
        || e.InnerException is not null && IsTransient(e.InnerException);
}
