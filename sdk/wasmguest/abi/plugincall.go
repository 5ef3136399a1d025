package abi

// Kinds of a plugin_call outcome: the call's answer, or why there is none,
// so that the guest gives the plugin the errors a native plugin gets.
//
// A call carries the rights of the caller of the request being served:
// the host numbers each OpHandle call on an instance (the request frame's
// trailing u32, never 0) and the guest keeps that number in the request's
// context. The host takes the caller's credentials from its own copy of
// that request while it is being served, so they never enter the guest; a
// call naming no request (0) is anonymous, and one naming a request that
// is over is refused (CallOver).
const (
	// CallFailed: the call failed otherwise (the message says why).
	CallFailed byte = 0
	// CallOK: the dependency answered; the outcome holds its answer.
	CallOK byte = 1
	// CallUndeclared: sdk.ErrUndeclaredDependency.
	CallUndeclared byte = 2
	// CallUnavailable: sdk.ErrDependencyUnavailable.
	CallUnavailable byte = 3
	// CallTimeout: the call's deadline passed (context.DeadlineExceeded).
	CallTimeout byte = 4
	// CallOver: the request whose context the call was made with has been
	// answered (context.Canceled).
	CallOver byte = 5
)
