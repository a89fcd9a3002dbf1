/* placeholder */ typedef int placeholder_store;
