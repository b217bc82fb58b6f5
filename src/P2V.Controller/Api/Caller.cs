using Microsoft.AspNetCore.Http;
using P2V.Controller.Jobs;

namespace P2V.Controller.Api;

/// <summary>Who sent a request: the operator (admin token) or the agent of one job (that job's token).</summary>
public abstract record Caller
{
    public sealed record Admin : Caller;
    public sealed record Agent(Job Job) : Caller;

    private const string Key = "p2v.caller";

    public static Caller? Of(HttpContext context) => context.Items.TryGetValue(Key, out var c) ? c as Caller : null;

    /// <summary>
    /// Every /api/ request names its caller with "Authorization: Bearer TOKEN", or gets 401 and nothing else. Open:
    /// /healthz, the console's static files and the OpenAPI document (they hold no data).
    /// </summary>
    public static async Task Authenticate(HttpContext context, RequestDelegate next, string adminToken, JobRepository jobs)
    {
        if (!context.Request.Path.StartsWithSegments("/api"))
        {
            await next(context);
            return;
        }
        var header = context.Request.Headers.Authorization.ToString();
        string? token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        Caller? caller = null;
        if (token is { Length: > 0 })
        {
            if (AdminToken.Matches(adminToken, token)) caller = new Admin();
            else if (token.StartsWith("job_", StringComparison.Ordinal) && await jobs.FindByTokenAsync(token, context.RequestAborted) is { } job) caller = new Agent(job);
        }
        if (caller == null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Problem(context, StatusCodes.Status401Unauthorized, token == null ? "a token is required (--token or P2V_TOKEN)" : "the token is not valid");
            return;
        }
        context.Items[Key] = caller;
        await next(context);
    }

    /// <summary>The admin API and the console's data: the admin token only.</summary>
    public static ValueTask<object?> RequireAdmin(EndpointFilterInvocationContext f, EndpointFilterDelegate next) =>
        Of(f.HttpContext) is Admin ? next(f) : ValueTask.FromResult<object?>(Forbidden("this needs the admin token"));

    /// <summary>The agent API: a job token only.</summary>
    public static ValueTask<object?> RequireAgent(EndpointFilterInvocationContext f, EndpointFilterDelegate next) =>
        Of(f.HttpContext) is Agent ? next(f) : ValueTask.FromResult<object?>(Forbidden("this needs a job token"));

    public static IResult Forbidden(string why) => Results.Json(new ErrorBody(why), ControllerJson.Default.ErrorBody, statusCode: StatusCodes.Status403Forbidden);

    public static Task Problem(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new ErrorBody(message), ControllerJson.Default.ErrorBody);
    }
}
