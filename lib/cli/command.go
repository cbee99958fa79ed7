package cli

import (
	"context"
	"io"
)

// Command is a tool as its package defines it: New builds the tool with
// its flags registered and the flags' values, and Run does its work with
// them. Its Main and Tool are what every tool package exports.
type Command[F any] struct {
	New func(stdin io.Reader, stdout, stderr io.Writer) (*Tool, F)
	Run func(ctx context.Context, t *Tool, f F, rest []string) error
}

// Main runs the tool with args (Tool.Run) and returns its exit status.
func (c Command[F]) Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	t, f := c.New(stdin, stdout, stderr)
	return t.Run(args, func(ctx context.Context, rest []string) error { return c.Run(ctx, t, f, rest) })
}

// Tool returns the tool with its flags registered, for documentation
// checks.
func (c Command[F]) Tool() *Tool {
	t, _ := c.New(nil, io.Discard, io.Discard)
	return t
}
