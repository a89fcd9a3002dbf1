/* placeholder */ typedef int placeholder_harness;
