/* `instance start`: run the starter in the background, detached from the
 * terminal, find the instance's container process and record it. */
#ifndef SING_INSTANCE_START_H
#define SING_INSTANCE_START_H

/* Start instance NAME of IMAGE: av/envp are the starter's argv and
 * environment (av[0] the starter path). Returns the exit status. */
int instance_launch(const char *name, const char *image, char **av, char **envp);

#endif
