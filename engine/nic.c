/* placeholder */ typedef int placeholder_nic;
