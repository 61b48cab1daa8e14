#include "log.h"

int main(void)
{
	die("the starter is not implemented yet");
}
