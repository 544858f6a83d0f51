// Stand-in for the .NET language host module, which the Go proxy refuses to serve.
// pulumi-docker-build imports it only for one struct of C# schema metadata.
module github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3

go 1.24
