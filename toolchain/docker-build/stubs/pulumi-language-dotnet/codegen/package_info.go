// Package dotnet holds the one type pulumi-docker-build uses from the .NET codegen:
// the C# section of a package schema. Field order and JSON names follow
// pulumi-language-dotnet v3.107.0, so the provider's schema is unchanged.
package dotnet

// CSharpPackageInfo is the C# language-specific info of a package schema.
type CSharpPackageInfo struct {
	PackageReferences    map[string]string `json:"packageReferences,omitempty"`
	RespectSchemaVersion bool              `json:"respectSchemaVersion,omitempty"`
}
