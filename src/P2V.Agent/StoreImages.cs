using P2V.Store;

namespace P2V.Agent;

/// <summary>The job's image store and its images, one per local disk (<see cref="DiskImageNames"/>).</summary>
internal static class StoreImages
{
    /// <summary>The job's store, reached with the job's token.</summary>
    public static StoreClient Open(JobContext context)
    {
        var job = context.Job;
        if (job.Image is null) throw new InvalidDataException($"the {job.Kind} job names no image");
        if (!Uri.TryCreate(job.Store, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new InvalidDataException($"the job's image store '{job.Store}' is not an http URL");
        return new StoreClient(url, context.Token);
    }
}
