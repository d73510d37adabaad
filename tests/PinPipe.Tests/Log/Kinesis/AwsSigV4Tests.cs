using System.Text;
using PinPipe.Log.Kinesis;

namespace PinPipe.Tests.Log.Kinesis;

/// <summary>
/// The SigV4 signer against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite: the requests and
/// their expected Authorization headers, service <c>service</c>, region us-east-1, 2015-08-30T12:36:00Z, key
/// AKIDEXAMPLE), copied here as data.
/// </summary>
public sealed class AwsSigV4Tests
{
    private static readonly AwsKeys SuiteKeys = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    private static readonly DateTimeOffset SuiteTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);
    private const string Scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

    /// <summary>name, method, path, query (k=v a line, unencoded), extra headers (name:value|name:value), body, signed headers, signature.</summary>
    public static TheoryData<string, string, string, string, string, string, string, string> Vectors => new()
    {
        { "get-vanilla", "GET", "/", "", "", "", "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
        { "get-vanilla-empty-query-key", "GET", "/", "Param1=value1", "", "", "host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb" },
        { "get-vanilla-query-order-key-case", "GET", "/", "Param2=value2\nParam1=value1", "", "", "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
        { "get-vanilla-query-unreserved", "GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", "", "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197" },
        { "get-vanilla-utf8-query", "GET", "/", "\u1234=bar", "", "", "host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04" },
        { "get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", "", "", "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f" },
        { "get-utf8", "GET", "/\u1234", "", "", "", "host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85" },
        { "get-header-key-duplicate", "GET", "/", "", "My-Header1:value2|My-Header1:value2|My-Header1:value1", "", "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea" },
        { "get-header-value-order", "GET", "/", "", "My-Header1:value4|My-Header1:value1|My-Header1:value3|My-Header1:value2", "", "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01" },
        { "get-header-value-trim", "GET", "/", "", "My-Header1: value1|My-Header2: \"a   b   c\"", "", "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736" },
        { "post-vanilla", "POST", "/", "", "", "", "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
        { "post-header-key-sort", "POST", "/", "", "My-Header1:value1", "", "host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c" },
        { "post-header-value-case", "POST", "/", "", "My-Header1:VALUE1", "", "host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d" },
        { "post-vanilla-query", "POST", "/", "Param1=value1", "", "", "host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11" },
        { "post-vanilla-query-nonunreserved", "POST", "/", "@#$%^=\n+=/,?><`\";:\\|][{}", "", "", "host;x-amz-date", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e" },
        { "post-vanilla-query-space", "POST", "/", "p=", "", "", "host;x-amz-date", "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b" },
        { "post-x-www-form-urlencoded", "POST", "/", "", "Content-Type:application/x-www-form-urlencoded", "Param1=value1", "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a" },
        { "post-x-www-form-urlencoded-parameters", "POST", "/", "", "Content-Type:application/x-www-form-urlencoded; charset=utf8", "Param1=value1", "content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Signs_as_the_published_test_suite(string name, string method, string path, string query, string extraHeaders, string body, string signedHeaders, string signature)
    {
        var headers = new List<KeyValuePair<string, string>> { new("Host", "example.amazonaws.com"), new("X-Amz-Date", "20150830T123600Z") };
        foreach (string h in extraHeaders.Split('|', StringSplitOptions.RemoveEmptyEntries))
            headers.Add(new(h[..h.IndexOf(':', StringComparison.Ordinal)], h[(h.IndexOf(':', StringComparison.Ordinal) + 1)..]));
        var pairs = query.Length == 0 ? [] : SplitQuery(query);

        string authorization = AwsSigV4.Authorization(method, path, pairs, headers, Encoding.UTF8.GetBytes(body), SuiteKeys, "us-east-1", "service", SuiteTime);

        Assert.Equal($"{Scope}SignedHeaders={signedHeaders}, Signature={signature}", authorization);
        Assert.NotEmpty(name);
    }

    /// <summary>The query's pairs: one a line, split at the first '=' (a value may hold '=' and '&amp;').</summary>
    private static List<KeyValuePair<string, string>> SplitQuery(string query) =>
        [.. query.Split('\n').Select(p => new KeyValuePair<string, string>(p[..p.IndexOf('=', StringComparison.Ordinal)], p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..]))];

    [Fact]
    public void The_canonical_request_of_get_vanilla_is_the_suites()
    {
        var (canonical, signed) = AwsSigV4.CanonicalRequest("GET", "/", [],
            [new("Host", "example.amazonaws.com"), new("X-Amz-Date", "20150830T123600Z")], []);

        Assert.Equal("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", canonical);
        Assert.Equal("host;x-amz-date", signed);
    }

    [Fact]
    public void A_session_token_is_signed_as_a_header_and_changes_the_signature()
    {
        var headers = new List<KeyValuePair<string, string>> { new("Host", "example.amazonaws.com"), new("X-Amz-Date", "20150830T123600Z") };
        string plain = AwsSigV4.Authorization("POST", "/", [], headers, [], SuiteKeys, "us-east-1", "service", SuiteTime);
        headers.Add(new("X-Amz-Security-Token", "token"));
        string withToken = AwsSigV4.Authorization("POST", "/", [], headers, [], SuiteKeys with { SessionToken = "token" }, "us-east-1", "service", SuiteTime);

        Assert.Contains("SignedHeaders=host;x-amz-date;x-amz-security-token,", withToken, StringComparison.Ordinal);
        Assert.NotEqual(plain[plain.IndexOf("Signature=", StringComparison.Ordinal)..], withToken[withToken.IndexOf("Signature=", StringComparison.Ordinal)..]);
    }

    [Fact]
    public void Keys_never_print_the_secret()
    {
        string text = (SuiteKeys with { SessionToken = "tok-secret" }).ToString();

        Assert.Contains("AKIDEXAMPLE", text, StringComparison.Ordinal);
        Assert.DoesNotContain("wJalr", text, StringComparison.Ordinal);
        Assert.DoesNotContain("tok-secret", text, StringComparison.Ordinal);
    }
}
