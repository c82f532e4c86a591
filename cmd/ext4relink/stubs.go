package main

func (a *app) journal(args []string) int {
	fl := a.flags("journal")
	if code, ok := a.parse(fl, args, true); !ok {
		return code
	}
	return a.usageErr("journal: not implemented yet")
}
