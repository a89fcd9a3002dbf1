/* placeholder */ typedef int placeholder_ifaces;
