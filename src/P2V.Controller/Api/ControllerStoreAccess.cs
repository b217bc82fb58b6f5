using Microsoft.AspNetCore.Http;
using P2V.Controller.Jobs;
using P2V.Store;
using P2V.Store.Http;

namespace P2V.Controller.Api;

/// <summary>
/// The store's authorization seam as the controller fills it: the admin token may do everything; a job's token may
/// read the images its deploy job names, or write the images its capture job creates (the job's image and
/// IMAGE.diskN for further disks, <see cref="DiskImageNames"/>), while the job is claimed or
/// running, and nothing else (docs/agent-protocol.md).
/// </summary>
public sealed class ControllerStoreAccess : IStoreAccess
{
    public ValueTask<StoreAccessDecision> AuthorizeAsync(HttpContext context, StoreOperation operation, string? image) =>
        ValueTask.FromResult(Caller.Of(context) switch
        {
            Caller.Admin => StoreAccessDecision.Allow,
            Caller.Agent { Job: var job } => Allows(job, operation, image) ? StoreAccessDecision.Allow : StoreAccessDecision.Forbidden,
            _ => StoreAccessDecision.Unauthenticated,
        });

    public static bool Allows(Job job, StoreOperation operation, string? image) =>
        job.State is JobState.Claimed or JobState.Running && image != null && job.Image != null && DiskImageNames.BelongsTo(image, job.Image) && operation switch
        {
            StoreOperation.Read => job.Kind == JobKind.Deploy,
            StoreOperation.Write => job.Kind == JobKind.Capture,
            _ => false,
        };
}
