/* Commands whose issues are not done yet: each says so plainly. Removed as
 * the real commands land. */
#include "commands.h"
#include "log.h"

#define PENDING(fn, name)                                                                          \
	int fn(int argc, char **argv)                                                              \
	{                                                                                          \
		(void)argc;                                                                        \
		(void)argv;                                                                        \
		log_error("'%s' is not implemented yet", name);                                    \
		return 255;                                                                        \
	}

PENDING(cmd_build, "build")
PENDING(cmd_inspect, "inspect")
const char usage_build[] = "", usage_inspect[] = "";
