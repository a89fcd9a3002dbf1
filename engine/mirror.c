/* placeholder */ typedef int placeholder_mirror;
